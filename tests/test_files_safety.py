"""Hostile and broken files: each refused with INVALID_ARGUMENT naming why, quickly and in
bounded memory, before any translation."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import pytest

from newsmt.core.errors import InvalidArgument
from newsmt.pipeline.documents.files import open_file

from . import files_samples as samples

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def refused(content: bytes, *, mime_type: str = "", file_name: str = "") -> str:
    """The message `open_file` refuses the file with, checked to be fast and small."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InvalidArgument) as raised:
            open_file(content, mime_type, file_name)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 16 * 1024 * 1024 + 2 * len(content)
    return raised.value.message


def test_zip_bomb_is_refused_without_inflating_it() -> None:
    bomb = samples.zip_bomb()
    assert len(bomb) < 200_000  # 64 MiB inside
    message = refused(bomb, file_name="bomb.docx")
    assert "compression ratio" in message and "zip bomb" in message


def test_billion_laughs_is_refused() -> None:
    data = samples.with_part(
        samples.docx_file(extras=False), "word/document.xml", samples.BILLION_LAUGHS.encode()
    )
    message = refused(data, file_name="lol.docx")
    assert "DOCTYPE is not allowed" in message and "word/document.xml" in message


def test_xxe_is_refused_and_nothing_is_read() -> None:
    message = refused(samples.XXE.encode(), file_name="x.xlf")
    assert "DOCTYPE is not allowed" in message
    assert "root:" not in message  # /etc/passwd never read


@pytest.mark.parametrize(
    ("make", "kwargs"),
    [
        (lambda: samples.docx_file(extras=False), {"file_name": "report.docm"}),
        (
            lambda: samples.docx_file(extras=False),
            {"mime_type": "application/vnd.ms-word.document.macroEnabled.12"},
        ),
        (
            lambda: samples.with_part(
                samples.docx_file(extras=False), "word/vbaProject.bin", b"\0" * 64
            ),
            {"file_name": "report.docx"},
        ),
        (
            lambda: samples.with_part(
                samples.docx_file(extras=False),
                "word/vbaData.xml",
                b"<x/>",
                "application/vnd.ms-word.vbaData+xml",
            ),
            {"mime_type": DOCX},
        ),
    ],
    ids=["docm-name", "macro-mime", "vbaProject-in-docx", "vba-content-type"],
)
def test_macro_files_are_refused(make: Callable[[], bytes], kwargs: dict[str, str]) -> None:
    assert "macro" in refused(make(), **kwargs)


def test_encrypted_files_are_refused() -> None:
    message = refused(samples.encrypted(), file_name="secret.docx")
    assert "encrypted" in message and "password" in message


def test_legacy_binary_office_files_are_refused() -> None:
    ole = bytearray(samples.encrypted())
    ole = ole.replace(
        "EncryptedPackage".encode("utf-16-le"), "WordDocument____".encode("utf-16-le")
    )
    assert ".doc" in refused(bytes(ole), file_name="old.doc")


@pytest.mark.parametrize("name", ["features.docx", "features.pptx", "features.xlsx"])
def test_truncated_files_are_refused(name: str) -> None:
    whole = {
        "features.docx": samples.docx_file,
        "features.pptx": samples.pptx_file,
        "features.xlsx": samples.xlsx_file,
    }[name]()
    for cut in (len(whole) // 2, len(whole) - 30, 100):
        message = refused(whole[:cut], file_name=name)
        assert "damaged or truncated" in message or "not a valid" in message


def test_truncated_xml_and_undecodable_subtitles_are_refused() -> None:
    assert "not well-formed" in refused(b"<xliff version='1.2'><file>", file_name="a.xlf")
    assert "no SRT cue" in refused(b"just some words\n", file_name="a.srt")
    binary = b"1\n00:00:01,000 --> 00:00:02,000\n\x00\x01\xfa\xfb\n"
    assert "the SRT file is not text" in refused(binary, file_name="a.srt")


def test_an_encrypted_zip_entry_is_refused() -> None:
    data = bytearray(samples.docx_file(extras=False))
    # Set the "encrypted" flag of every entry in the central directory.
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        data[at + 8] |= 0x1
        at = data.find(b"PK\x01\x02", at + 4)
    assert "encrypted" in refused(bytes(data), file_name="x.docx")


def test_unsupported_types_name_the_field() -> None:
    with pytest.raises(InvalidArgument) as raised:
        open_file(b"%PDF-1.7", "application/pdf")
    assert raised.value.violations[0].field == "mime_type"
    assert "unsupported type" in raised.value.message and "docx" in raised.value.message
    with pytest.raises(InvalidArgument) as raised:
        open_file(b"%PDF-1.7", file_name="x.pdf")
    assert raised.value.violations[0].field == "content"
    assert "'.pdf'" in raised.value.message


def test_a_docx_that_is_really_a_spreadsheet_says_so() -> None:
    message = refused(samples.xlsx_file(), mime_type=DOCX)
    assert "not a valid DOCX file" in message and "XLSX" in message


def test_messages_never_quote_the_document_text() -> None:
    secret = "Top secret merger talks"
    data = samples.with_part(
        samples.docx_file(extras=False),
        "word/document.xml",
        f'<w:document xmlns:w="{samples.W}"><w:body><w:p><w:r><w:t>{secret}</w:t></w:r>'.encode(),
    )
    assert secret not in refused(data, file_name="x.docx")
