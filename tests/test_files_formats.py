"""Files in and out: identity round trips on real files, synthetic translations that every
reader library still opens, and what each format must keep."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from newsmt.pipeline.documents import TokenLink, diagonal
from newsmt.pipeline.documents.files import FileDocument, open_file
from newsmt.pipeline.documents.finish import finish_unit
from newsmt.pipeline.documents.model import UnitOutput

from . import files_samples as samples
from .documents_fakes import upper

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
