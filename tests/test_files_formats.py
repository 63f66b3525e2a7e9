"""Files in and out: identity round trips on real files, synthetic translations that every
reader library still opens, and what each format must keep."""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from newsmt.pipeline.documents import TokenLink, diagonal
from newsmt.pipeline.documents.files import FileDocument, open_file
from newsmt.pipeline.documents.finish import finish_unit
from newsmt.pipeline.documents.model import UnitOutput

from . import files_samples as samples
from .documents_fakes import scrambled, upper

DATA = Path(__file__).resolve().parent / "data" / "files"
REAL = sorted(p for p in DATA.iterdir() if p.suffix != ".md")
ZIPPED = (".docx", ".pptx", ".xlsx")
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
Translator = Callable[[str], tuple[str, tuple[TokenLink, ...] | None]]


def made() -> dict[str, bytes]:
    return {
        "features.docx": samples.docx_file(),
        "features.pptx": samples.pptx_file(),
        "features.xlsx": samples.xlsx_file(),
    }


MADE = made()
ALL = [(p.name, p.read_bytes()) for p in REAL] + list(MADE.items())


def identity(text: str) -> tuple[str, tuple[TokenLink, ...] | None]:
    return text, diagonal(text)


def outputs(doc: FileDocument, translator: Translator) -> list[list[UnitOutput | None]]:
    """Every unit through `translator`, repaired as the pipeline repairs it (protected spans)."""
    result: list[list[UnitOutput | None]] = []
    for part in doc.parts:
        row: list[UnitOutput | None] = []
        for unit in part.units:
            if not unit.needs_model:
                row.append(None)
                continue
            text, links = translator(unit.text)
            row.append(finish_unit(unit, text, links).output)
        result.append(row)
    return result


def entries(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


# -- identity -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data"), ALL, ids=[n for n, _ in ALL])
def test_identity_round_trip_keeps_every_byte(name: str, data: bytes) -> None:
    doc = open_file(data, file_name=name)
    written = doc.write(outputs(doc, identity), "ru")
    if name.endswith(ZIPPED):
        assert entries(written.content) == entries(data)
    elif name.endswith((".xlf", ".xliff")):
        check_xliff_identity(data, written.content)
    else:
        assert written.content == data


def test_a_changed_package_keeps_untouched_entries_and_their_metadata() -> None:
    data = MADE["features.docx"]
    doc = open_file(data, file_name="features.docx")
    written = doc.write(outputs(doc, upper), "ru")
    before = {n: b for n, b in entries(data)}
    after = entries(written.content)
    assert [n for n, _ in after] == [n for n, _ in entries(data)]  # order and names
    changed = {n for n, b in after if before[n] != b}
    assert changed == {
        "word/document.xml",
        "word/header1.xml",
        "word/footer1.xml",
        "word/footnotes.xml",
    }
    with (
        zipfile.ZipFile(io.BytesIO(data)) as z1,
        zipfile.ZipFile(io.BytesIO(written.content)) as z2,
    ):
        for i1, i2 in zip(z1.infolist(), z2.infolist(), strict=True):
            assert (i1.date_time, i1.compress_type, i1.external_attr) == (
                i2.date_time,
                i2.compress_type,
                i2.external_attr,
            )


def _without_targets(data: bytes) -> bytes:
    root = etree.fromstring(data)
    for el in list(root.iter()):
        if not isinstance(el.tag, str):
            continue
        if etree.QName(el).localname == "target" and etree.QName(el.getparent()).localname in (
            "trans-unit",
            "segment",
        ):
            el.getparent().remove(el)
            continue
        for attr in ("state", "state-qualifier", "subState", "target-language", "trgLang"):
            el.attrib.pop(attr, None)
    for el in root.iter():  # the whitespace around a target goes and comes with it
        if el.tail is not None and not el.tail.strip():
            el.tail = None
        if isinstance(el.tag, str) and el.text is not None and not el.text.strip():
            el.text = None
    return etree.tostring(root)


def _inner(el: etree._Element) -> str:
    text = el.text or ""
    return text + "".join(etree.tostring(c, encoding="unicode", with_tail=True) for c in el)


def _strip_ns(xml: str) -> str:
    return re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", xml)


def _holders(root: etree._Element) -> list[etree._Element]:
    return [
        el
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname in ("trans-unit", "segment")
    ]


def _child(el: etree._Element, *names: str) -> etree._Element | None:
    for name in names:
        for c in el:
            if isinstance(c.tag, str) and etree.QName(c).localname == name:
                return c
    return None


def check_xliff_identity(before: bytes, after: bytes) -> int:
    """Every target we wrote has its source's content, inline codes included; every other
    target is as it was; nothing else changed but targets, states and the target language.
    Returns how many targets were written."""
    assert _without_targets(before) == _without_targets(after)
    written = 0
    for old, new in zip(
        _holders(etree.fromstring(before)), _holders(etree.fromstring(after)), strict=True
    ):
        old_target, new_target = _child(old, "target"), _child(new, "target")
        if new_target is None:
            assert old_target is None
            continue
        if old_target is not None and _inner(old_target) == _inner(new_target):
            continue
        source = _child(new, "seg-source", "source")
        assert source is not None
        assert _inner(new_target) == _inner(source)
        written += 1
    return written


def _translate_no(el: etree._Element) -> bool:
    while el is not None:
        if el.get("translate") == "no":
            return True
        el = el.getparent()
    return False


# -- synthetic translations -----------------------------------------------------------------

OFFICE = [(n, d) for n, d in ALL if n.endswith(ZIPPED)]
SUBTITLES = [(n, d) for n, d in ALL if n.endswith((".srt", ".vtt"))]
XLIFF = [(n, d) for n, d in ALL if n.endswith((".xlf", ".xliff"))]
TRANSLATORS = [upper, scrambled]


def _paragraph_markup(data: bytes, name: str) -> list[tuple[Counter[bytes], Counter[str]]]:
    """Per paragraph of an XML part: the multiset of its runs' properties (languages left
    out, since translated runs change theirs) and of its hyperlink targets."""
    root = etree.fromstring(data)
    ns = W if b"wordprocessingml" in data[:2000] or name.startswith("word/") else A
    out: list[tuple[Counter[bytes], Counter[str]]] = []
    for p in root.iter(f"{ns}p"):
        props: Counter[bytes] = Counter()
        links: Counter[str] = Counter()
        for r in p.iter(f"{ns}r"):
            if next(r.iterancestors(f"{ns}p")) is not p:
                continue  # a text box's run belongs to its own paragraph
            rpr = r.find(f"{ns}rPr")
            if rpr is None:
                props[b""] += 1
                continue
            rpr = etree.fromstring(etree.tostring(rpr))
            for el in rpr.iter():
                el.attrib.pop(f"{W}val", None) if el.tag == f"{W}lang" else None
                el.attrib.pop("lang", None)
            props[etree.tostring(rpr)] += 1
        for h in p.iter(f"{W}hyperlink", f"{A}hlinkClick"):
            links[" ".join(f"{k}={v}" for k, v in sorted(h.attrib.items()))] += 1
        out.append((props, links))
    return out


def _open_with_library(name: str, data: bytes) -> None:
    import docx
    import openpyxl
    import pptx

    if name.endswith(".docx"):
        docx.Document(io.BytesIO(data))
    elif name.endswith(".pptx"):
        pptx.Presentation(io.BytesIO(data))
    else:
        openpyxl.load_workbook(io.BytesIO(data))


@pytest.mark.parametrize("translator", TRANSLATORS, ids=lambda t: t.__name__)
@pytest.mark.parametrize(("name", "data"), OFFICE, ids=[n for n, _ in OFFICE])
def test_translated_office_files_open_and_keep_their_run_properties(
    name: str, data: bytes, translator: Translator
) -> None:
    doc = open_file(data, file_name=name)
    written = doc.write(outputs(doc, translator), "ru")
    _open_with_library(name, written.content)
    before, after = dict(entries(data)), dict(entries(written.content))
    for part, new in after.items():
        if new == before[part] or not part.endswith(".xml"):
            continue
        if part.startswith(("word/", "ppt/")):
            assert _paragraph_markup(new, part) == _paragraph_markup(before[part], part), part


def test_a_sentence_word_split_into_runs_reaches_the_model_whole() -> None:
    doc = open_file(MADE["features.docx"], file_name="features.docx")
    texts = [u.text for part in doc.parts for u in part.units]
    assert "The prime minister resigned on Monday." in texts  # four runs, one bold word split
    assert "Columns: left and right, with a line break inside one sentence." in texts
    assert "Water levels are still rising." in texts  # the text box
    assert "According to the national weather service." in texts  # the footnote
    assert "Daily briefing, for internal use." in texts  # the header
    joined = " ".join(texts)
    for never in ("PAGE", "MERGEFORMAT", "never", "Check this figure", "DATE"):
        assert never not in joined  # field instructions, a deletion, a comment


def test_docx_locations_name_the_paragraph_and_the_part() -> None:
    doc = open_file(MADE["features.docx"], file_name="features.docx")
    where = {
        u.text: doc.location(p, u.index) for p, part in enumerate(doc.parts) for u in part.units
    }
    assert where["The prime minister resigned on Monday."] == "paragraph 1"
    assert where["Roads stay closed."] == "paragraph 7"
    assert where["Water levels are still rising."] == "paragraph 8"
    assert where["Daily briefing, for internal use."] == "header 1, paragraph 1"
    assert where["According to the national weather service."] == "footnote 1"


def test_translated_docx_keeps_fields_deletions_comments_and_sets_the_language() -> None:
    data = MADE["features.docx"]
    doc = open_file(data, file_name="features.docx")
    written = doc.write(outputs(doc, upper), "ru")
    before, after = dict(entries(data)), dict(entries(written.content))
    new = etree.fromstring(after["word/document.xml"])
    old = etree.fromstring(before["word/document.xml"])
    for path in (f".//{W}instrText", f".//{W}delText", f".//{W}del"):
        assert [etree.tostring(e) for e in new.iterfind(path)] == [
            etree.tostring(e) for e in old.iterfind(path)
        ]
    instructions = [e.get(f"{W}instr") for e in old.iter(f"{W}fldSimple")]
    assert [e.get(f"{W}instr") for e in new.iter(f"{W}fldSimple")] == instructions
    assert after["word/comments.xml"] == before["word/comments.xml"]
    langs = {e.get(f"{W}val") for e in new.iter(f"{W}lang")}
    assert langs == {"ru"}
    first = next(new.iter(f"{W}p"))
    assert "".join(first.itertext()) == "THE PRIME MINISTER RESIGNED ON MONDAY."
    bold = [r for r in first.iter(f"{W}r") if r.find(f"{W}rPr/{W}b") is not None]
    # The word is split between two bold runs, so the placement falls back (see ooxml).
    assert "MINISTER" in "".join("".join(r.itertext()) for r in bold)
    for t in new.iter(f"{W}t"):
        if t.text and t.text != t.text.strip():
            assert t.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"


def test_pptx_slides_and_notes_translated_with_languages_and_locations() -> None:
    data = MADE["features.pptx"]
    doc = open_file(data, file_name="features.pptx")
    where = {
        u.text: doc.location(p, u.index) for p, part in enumerate(doc.parts) for u in part.units
    }
    assert where["Labour won a clear majority on Thursday."] == "slide 1"
    assert where["Mention the recount in two districts."] == "slide 1 notes"
    assert where["Seats by party"] == "slide 2"
    written = doc.write(outputs(doc, upper), "ru")
    slide = dict(entries(written.content))["ppt/slides/slide1.xml"]
    root = etree.fromstring(slide)
    langs = {r.get("lang") for r in root.iter(f"{A}rPr") if r.get("lang")}
    assert langs == {"ru"}
    assert b"LABOUR WON" in slide


def test_xlsx_translates_strings_never_formulas_numbers_dates_or_sheet_names() -> None:
    import openpyxl
    from openpyxl.cell.rich_text import CellRichText

    data = MADE["features.xlsx"]
    doc = open_file(data, file_name="features.xlsx")
    where = {
        u.text: doc.location(p, u.index) for p, part in enumerate(doc.parts) for u in part.units
    }
    assert where["The ruling party lost its majority."] == "Results!A3"
    assert where["Labour"] == "Results!A2 (and 1 more cells)"
    assert where["Seats won in the vote"] == "Results!C1"
    assert where["Turnout was low."] == "'Vote share'!A1"
    written = doc.write(outputs(doc, upper), "ru")
    old = openpyxl.load_workbook(io.BytesIO(data), rich_text=True)
    new = openpyxl.load_workbook(io.BytesIO(written.content), rich_text=True)
    assert old.sheetnames == new.sheetnames
    strings = 0
    for ws_old, ws_new in zip(old.worksheets, new.worksheets, strict=True):
        for row_old, row_new in zip(ws_old.iter_rows(), ws_new.iter_rows(), strict=True):
            for a, b in zip(row_old, row_new, strict=True):
                if isinstance(a.value, CellRichText):
                    assert str(b.value) == str(a.value).upper()
                    strings += 1
                elif isinstance(a.value, str) and not a.value.startswith("="):
                    assert b.value == a.value.upper()
                    strings += 1
                elif a.value is not None and not isinstance(a.value, str):
                    assert b.value == a.value  # numbers, dates
                elif isinstance(a.value, str):
                    assert b.value == a.value  # a formula
    assert strings >= 5
    rich = new["Results"]["A3"].value
    assert [str(block.text) for block in rich if hasattr(block, "font")] == ["RULING PARTY"]
    before, after = dict(entries(data)), dict(entries(written.content))
    assert after["xl/worksheets/sheet2.xml"] == before["xl/worksheets/sheet2.xml"]
    assert after["xl/workbook.xml"] == before["xl/workbook.xml"]


@pytest.mark.parametrize("translator", TRANSLATORS, ids=lambda t: t.__name__)
@pytest.mark.parametrize(("name", "data"), SUBTITLES, ids=[n for n, _ in SUBTITLES])
def test_translated_subtitles_keep_timings_and_lines_fit_or_are_flagged(
    name: str, data: bytes, translator: Translator
) -> None:
    import pysubs2

    doc = open_file(data, file_name=name)
    written = doc.write(outputs(doc, translator), "ru")
    encoding = "utf-16" if data.startswith(b"\xff\xfe") else "utf-8-sig"
    fmt = "vtt" if name.endswith(".vtt") else "srt"
    old = pysubs2.SSAFile.from_string(data.decode(encoding), format_=fmt)
    new = pysubs2.SSAFile.from_string(written.content.decode(encoding), format_=fmt)
    assert [(e.start, e.end) for e in new] == [(e.start, e.end) for e in old]
    timing = re.compile(rb"^.*-->.*$", re.MULTILINE)
    assert timing.findall(written.content.replace(b"\x00", b"")) == timing.findall(
        data.replace(b"\x00", b"")
    )
    _check_lines(written.content.decode(encoding), written.flags_by_location, doc, fmt)


def _check_lines(text: str, flagged: dict[str, set[object]], doc: FileDocument, fmt: str) -> None:
    """Every payload line of a cue is within 39 characters (Russian), or the cue is flagged."""
    from newsmt.pipeline.documents.files.subtitles import SubtitleFile
    from newsmt.pipeline.quality import Flag

    reader = doc.reader
    assert isinstance(reader, SubtitleFile)
    again = SubtitleFile(text.encode("utf-8"), reader.kind)
    tags = re.compile(r"<[^>]*>|\{\\[^}]*\}")
    for cue in again.cues:
        lines = [tags.sub("", again.source[a:b]) for a, b in cue.lines]
        too_long = len(lines) > 2 or any(len(line) > 39 for line in lines)
        if too_long:
            assert Flag.SUBTITLE_TOO_LONG in flagged.get(f"cue {cue.label}", set()), lines


@pytest.mark.parametrize(("name", "data"), XLIFF, ids=[n for n, _ in XLIFF])
def test_translated_xliff_is_well_formed_and_keeps_final_targets(name: str, data: bytes) -> None:
    doc = open_file(data, file_name=name)
    written = doc.write(outputs(doc, upper), "ru")
    root = etree.fromstring(written.content)
    assert _without_targets(data) == _without_targets(written.content)
    finals = re.compile(rb'<target[^>]*state="(?:final|signed-off)"[^>]*>.*?</target>', re.DOTALL)
    assert finals.findall(written.content) == finals.findall(data)
    assert root.get("trgLang") == "ru" or all(
        f.get("target-language") == "ru" for f in root.iter("{*}file")
    )
