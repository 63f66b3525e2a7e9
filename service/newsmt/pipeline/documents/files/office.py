"""DOCX, PPTX and XLSX: which parts of the package are translated, what each paragraph is
called, and the package written back.

- DOCX: the main document, headers, footers, footnotes and endnotes (text boxes inside them
  included). Comments, styles, numbering and everything else are copied.
- PPTX: the slides and their notes, in presentation order. Masters, layouts and charts are
  copied.
- XLSX: the shared strings and the inline strings of the worksheets. Formulas, their cached
  results, numbers, dates, sheet names, comments and charts are copied. A shared string is
  located at the first cell that shows it ("Sheet1!B7").

Macro-enabled packages (a VBA project part or a macro-enabled content type) are refused.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.parsers import expat

from newsmt.core.errors import InvalidArgument
from newsmt.pipeline.documents.files import ooxml, xml
from newsmt.pipeline.documents.files.base import Flags, Written
from newsmt.pipeline.documents.files.kinds import FileKind
from newsmt.pipeline.documents.files.package import Package
from newsmt.pipeline.documents.files.xml import START, TEXT
from newsmt.pipeline.documents.model import Document, UnitOutput

_TRANSITIONAL = "http://schemas.openxmlformats.org/"
_STRICT = "http://purl.oclc.org/ooxml/"
_NS = {
    "w": ("wordprocessingml/2006/main", "wordprocessingml/main"),
    "a": ("drawingml/2006/main", "drawingml/main"),
    "s": ("spreadsheetml/2006/main", "spreadsheetml/main"),
    "r": ("officeDocument/2006/relationships", "officeDocument/relationships"),
}
_CT = "application/vnd.openxmlformats-officedocument."
MAIN_TYPES = {
    "docx": _CT + "wordprocessingml.document.main+xml",
    "pptx": _CT + "presentationml.presentation.main+xml",
    "xlsx": _CT + "spreadsheetml.sheet.main+xml",
}
_DOCX_PARTS = {
    _CT + "wordprocessingml.document.main+xml": "",
    _CT + "wordprocessingml.header+xml": "header",
    _CT + "wordprocessingml.footer+xml": "footer",
    _CT + "wordprocessingml.footnotes+xml": "footnote",
    _CT + "wordprocessingml.endnotes+xml": "endnote",
}
_SLIDE = _CT + "presentationml.slide+xml"
_NOTES = _CT + "presentationml.notesSlide+xml"
_SHARED_STRINGS = _CT + "spreadsheetml.sharedStrings+xml"
_WORKSHEET = _CT + "spreadsheetml.worksheet+xml"
_MACRO = re.compile(r"macroEnabled|vbaProject|vbaData", re.IGNORECASE)
_NOTES_REL = "/notesSlide"
_NUMBER = re.compile(r"(\d+)")


def _namespace(key: str, strict: bool) -> str:
    transitional, strict_path = _NS[key]
    return _STRICT + strict_path if strict else _TRANSITIONAL + transitional


def dialect(key: str, strict: bool) -> ooxml.Dialect:
    ns = _namespace(key, strict)
    if key == "w":
        return ooxml.Dialect(
            ns,
            frozenset({"p"}),
            containers=frozenset(
                {
                    "hyperlink",
                    "ins",
                    "moveTo",
                    "smartTag",
                    "sdt",
                    "sdtContent",
                    "fldSimple",
                    "customXml",
                    "dir",
                    "bdo",
                }
            ),
            spaces=frozenset({"tab", "ptab", "br", "cr"}),
            lang=("lang", "val", True),
        )
    if key == "a":
        return ooxml.Dialect(
            ns,
            frozenset({"p"}),
            spaces=frozenset({"br"}),
            lang=("rPr", "lang", False),
            preserve=False,
        )
    return ooxml.Dialect(ns, frozenset({"si", "is"}), bare_text=True)


@dataclass
class Part:
    name: str
    paras: ooxml.Paragraphs


class OfficeFile:
    """A DOCX, PPTX or XLSX package with its translatable parts scanned."""

    source_language: str | None = None

    def __init__(self, content: bytes, kind: FileKind) -> None:
        self.content = content
        self.kind = kind
        self.package = Package(content, kind.kind.upper())
        self.types = _content_types(self.package, kind)
        _refuse_macros(self.package, self.types)
        main = [name for name, t in self.types.items() if t == MAIN_TYPES[kind.kind]]
        if not main:
            found = _main_kind(self.types)
            what = f"; it looks like a {found.upper()} file" if found else ""
            raise InvalidArgument.field(
                "content", f"not a valid {kind.kind.upper()} file: no main part{what}"
            )
        self.main = main[0]
        self.parts: list[Part] = []
        if kind.kind == "docx":
            self._docx()
        elif kind.kind == "pptx":
            self._pptx()
        else:
            self._xlsx()

    # -- reading ---------------------------------------------------------------------------

    def _xml(self, name: str) -> xml.XmlPart:
        return xml.parse(self.package.read(name), name)

    def _add(self, name: str, part: xml.XmlPart, key: str, label: Callable[[int], str]) -> None:
        strict = _namespace(key, True) in part.source
        paras = ooxml.scan(part, dialect(key, strict), label)
        if paras.blocks:
            self.parts.append(Part(name, paras))

    def _docx(self) -> None:
        order = list(_DOCX_PARTS)
        names = sorted(
            (n for n, t in self.types.items() if t in _DOCX_PARTS),
            key=lambda n: (order.index(self.types[n]), _natural(n)),
        )
        for name in names:
            what = _DOCX_PARTS[self.types[name]]
            part = self._xml(name)
            self._add(name, part, "w", _docx_labels(part, what, name))

    def _pptx(self) -> None:
        for number, slide in enumerate(self._slides(), 1):
            part = self._xml(slide)
            self._add(slide, part, "a", _fixed(f"slide {number}"))
            notes = _related(self.package, slide, _NOTES_REL)
            if notes and self.types.get(notes) == _NOTES:
                self._add(notes, self._xml(notes), "a", _fixed(f"slide {number} notes"))

    def _slides(self) -> list[str]:
        """Slide parts in presentation order (`sldIdLst`), else by their numbers."""
        slides = [n for n, t in self.types.items() if t == _SLIDE]
        rels = _relationships(self.package, self.main)
        presentation = self._xml(self.main)
        r_id = f"{_namespace('r', False)} id"
        r_id_strict = f"{_namespace('r', True)} id"
        ordered: list[str] = []
        for t in presentation.tokens:
            if t.kind == START and xml.local(t.name) == "sldId":
                target = rels.get(t.attrs.get(r_id) or t.attrs.get(r_id_strict) or "", ("", ""))[1]
                if target in slides and target not in ordered:
                    ordered.append(target)
        ordered += sorted((s for s in slides if s not in ordered), key=_natural)
        return ordered

    def _xlsx(self) -> None:
        sheets = self._sheets()
        shared = [n for n, t in self.types.items() if t == _SHARED_STRINGS]
        if shared:
            cells = _shared_string_cells(self.package, sheets)
            part = self._xml(shared[0])
            counter = iter(range(1 << 62))

            def shared_label(i: int) -> str:
                k = next(counter)
                where = cells.get(k)
                if where is None:
                    return f"shared string {k + 1}"
                first, more = where
                return first if not more else f"{first} (and {more} more cells)"

            self._add(shared[0], part, "s", shared_label)
        for sheet_name, name in sheets:
            if b"inlineStr" not in self.package.read(name):
                continue
            part = self._xml(name)
            self._add(name, part, "s", _inline_labels(part, sheet_name))

    def _sheets(self) -> list[tuple[str, str]]:
        """(sheet name, part name) in workbook order."""
        rels = _relationships(self.package, self.main)
        workbook = self._xml(self.main)
        found: list[tuple[str, str]] = []
        for t in workbook.tokens:
            if t.kind == START and xml.local(t.name) == "sheet":
                r = next((v for k, v in t.attrs.items() if xml.local(k) == "id" and " " in k), "")
                target = rels.get(r, ("", ""))[1]
                if target and self.types.get(target) == _WORKSHEET:
                    found.append((t.attrs.get("name", target), target))
        return found

    # -- the document model ----------------------------------------------------------------

    def documents(self, language: str) -> list[Document]:
        return [ooxml.units(p.paras, language) for p in self.parts]

    def plain_text(self) -> str:
        texts: list[str] = []
        for p in self.parts:
            for block in p.paras.blocks:
                text = "".join(block.parts).strip()
                if text:
                    texts.append(text)
        return "\n\n".join(texts)

    def location(self, doc: Document, part: int, unit: int) -> str:
        return self.parts[part].paras.labels[doc.units[unit].block]

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        docs: Sequence[Document],
        outputs: Sequence[Sequence[UnitOutput | None]],
        target: str,
        flags: Flags,
    ) -> Written:
        """The package with the translations; untouched parts keep their bytes, and a file
        with no translated unit comes back exactly as it came."""
        replaced: dict[str, bytes] = {}
        degraded: list[tuple[int, int]] = []
        for k, (part, doc) in enumerate(zip(self.parts, docs, strict=True)):
            written = ooxml.write(part.paras, doc, outputs[k], target)
            if written is not None:
                replaced[part.name] = part.paras.part.encode(written.text)
                degraded.extend((k, u) for u in written.degraded)
        content = self.package.write(replaced) if replaced else self.content
        return Written(content, self.kind, degraded=tuple(degraded))


def _fixed(label: str) -> Callable[[int], str]:
    return lambda i: label


def _natural(name: str) -> tuple[object, ...]:
    return tuple(int(x) if x.isdigit() else x for x in _NUMBER.split(name))


def _content_types(package: Package, kind: FileKind) -> dict[str, str]:
    """Part name (no leading slash) -> content type, for every part in the package."""
    if not package.has("[Content_Types].xml"):
        raise InvalidArgument.field(
            "content", f"not a valid {kind.kind.upper()} file: no [Content_Types].xml"
        )
    part = xml.parse(package.read("[Content_Types].xml"), "[Content_Types].xml")
    defaults: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for t in part.tokens:
        if t.kind != START:
            continue
        name = xml.local(t.name)
        if name == "Default":
            defaults[t.attrs.get("Extension", "").lower()] = t.attrs.get("ContentType", "")
        elif name == "Override":
            overrides[t.attrs.get("PartName", "").lstrip("/").lower()] = t.attrs.get(
                "ContentType", ""
            )
    types: dict[str, str] = {}
    for name in package.names():
        if name.endswith("/"):
            continue
        found = overrides.get(name.lower())
        if found is None:
            found = defaults.get(posixpath.splitext(name)[1].lstrip(".").lower(), "")
        types[name] = found
    return types


def _refuse_macros(package: Package, types: dict[str, str]) -> None:
    for name, content_type in types.items():
        if _MACRO.search(content_type) or posixpath.basename(name).lower().startswith("vbaproject"):
            raise InvalidArgument.field(
                "content",
                "macro-enabled Office files are refused (they carry VBA code); save it "
                "without macros (.docx, .xlsx, .pptx) and send that",
            )


def _main_kind(types: dict[str, str]) -> str | None:
    for kind, main in MAIN_TYPES.items():
        if main in types.values():
            return kind
    return None


def _relationships(package: Package, source: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type, target part name), for the part `source` (internal targets
    only)."""
    directory, base = posixpath.split(source)
    rels_name = posixpath.join(directory, "_rels", base + ".rels")
    if not package.has(rels_name):
        return {}
    part = xml.parse(package.read(rels_name), rels_name)
    found: dict[str, tuple[str, str]] = {}
    for t in part.tokens:
        if t.kind == START and xml.local(t.name) == "Relationship":
            if t.attrs.get("TargetMode", "Internal") != "Internal":
                continue
            target = t.attrs.get("Target", "")
            path = (
                target.lstrip("/") if target.startswith("/") else posixpath.join(directory, target)
            )
            found[t.attrs.get("Id", "")] = (t.attrs.get("Type", ""), posixpath.normpath(path))
    return found


def _related(package: Package, source: str, type_suffix: str) -> str | None:
    for kind, target in _relationships(package, source).values():
        if kind.endswith(type_suffix):
            return target
    return None


def _docx_labels(part: xml.XmlPart, what: str, name: str) -> Callable[[int], str]:
    """Paragraph labels: "paragraph 12" in the body; "header 1, paragraph 2"; "footnote 3"."""
    if what in ("footnote", "endnote"):
        owner: dict[int, str] = {}
        current = ""
        for k, t in enumerate(part.tokens):
            if t.kind == START and xml.local(t.name) == what:
                current = next((v for a, v in t.attrs.items() if xml.local(a) == "id"), "")
            elif t.kind == START and xml.local(t.name) == "p":
                owner[k] = current
        return lambda i: f"{what} {owner.get(i, '')}".strip()
    number = _NUMBER.findall(posixpath.basename(name))
    prefix = f"{what} {number[-1] if number else ''}".strip() + ", " if what else ""
    counter = iter(range(1, 1 << 62))
    return lambda i: f"{prefix}paragraph {next(counter)}"


def _shared_string_cells(
    package: Package, sheets: list[tuple[str, str]]
) -> dict[int, tuple[str, int]]:
    """Shared string index -> (first cell showing it, how many more cells show it), reading
    the worksheets with expat's streaming interface (no tokens kept)."""
    found: dict[int, tuple[str, int]] = {}
    for sheet_name, name in sheets:
        _SheetCells(sheet_name, found).feed(package.read(name), name)
    return found


class _SheetCells:
    def __init__(self, sheet: str, found: dict[int, tuple[str, int]]) -> None:
        self.sheet = _sheet_reference(sheet)
        self.found = found
        self.cell = ""
        self.shared = False
        self.in_value = False
        self.value: list[str] = []

    def feed(self, data: bytes, what: str) -> None:
        source, _, _ = xml.decode(data, what)
        parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = _no_doctype
        parser.EntityDeclHandler = _no_doctype
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        try:
            parser.Parse(source.encode("utf-8"), True)
        except (expat.ExpatError, ValueError):
            raise InvalidArgument.field("content", f"{what} is not well-formed XML") from None

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        local = xml.local(name)
        if local == "c":
            self.cell = attrs.get("r", "")
            self.shared = attrs.get("t") == "s"
        elif local == "v" and self.shared:
            self.in_value = True
            self.value = []

    def _end(self, name: str) -> None:
        if self.in_value and xml.local(name) == "v":
            self.in_value = False
            text = "".join(self.value).strip()
            if text.isdigit():
                k = int(text)
                where = f"{self.sheet}!{self.cell}"
                first = self.found.get(k)
                self.found[k] = (where, 0) if first is None else (first[0], first[1] + 1)

    def _text(self, data: str) -> None:
        if self.in_value:
            self.value.append(data)


def _no_doctype(*args: object) -> None:
    raise ValueError("no DTDs")


def _sheet_reference(name: str) -> str:
    """A sheet name as a formula writes it: quoted when it is not a plain word."""
    if re.fullmatch(r"[A-Za-z_][\w.]*", name):
        return name
    return "'" + name.replace("'", "''") + "'"


def _inline_labels(part: xml.XmlPart, sheet: str) -> Callable[[int], str]:
    owner: dict[int, str] = {}
    cell = ""
    for k, t in enumerate(part.tokens):
        if t.kind == START and xml.local(t.name) == "c":
            cell = t.attrs.get("r", "")
        elif t.kind == START and xml.local(t.name) == "is":
            owner[k] = cell
        elif t.kind == TEXT:
            continue
    reference = _sheet_reference(sheet)
    return lambda i: f"{reference}!{owner.get(i, '')}"
