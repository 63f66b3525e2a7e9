"""TranslateDocument on a real server: every test file through the identity engine comes back
as it went (XLIFF: its targets filled with its sources), hostile files are INVALID_ARGUMENT and
the server answers on, and the tiny models give files that open."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from newsmt.client import Client, TranslatedDocument
from newsmt.server.app import NewsmtServer
from newsmt.v1 import translation_pb2, translation_pb2_grpc

from . import files_samples

DATA = Path(__file__).parent / "data" / "files"
FILES = sorted(p for p in DATA.iterdir() if p.suffix in {".docx", ".pptx", ".xlsx", ".srt", ".vtt"})
XLIFF = sorted(p for p in DATA.iterdir() if p.suffix in {".xlf", ".xliff"})


@pytest.fixture
def stub(
    identity_server: tuple[NewsmtServer, str],
) -> Iterator[translation_pb2_grpc.TranslationServiceStub]:
    with grpc.insecure_channel(identity_server[1]) as channel:
        yield translation_pb2_grpc.TranslationServiceStub(channel)


def translate(
    stub: translation_pb2_grpc.TranslationServiceStub, content: bytes, name: str, **kw: str
) -> translation_pb2.TranslateDocumentResponse:
    request = translation_pb2.TranslateDocumentRequest(
        content=content, file_name=name, target_language_code=kw.pop("target", "ru"), **kw
    )
    response: translation_pb2.TranslateDocumentResponse = stub.TranslateDocument(
        request, timeout=120
    )
    return response


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_identity_engine_gives_every_file_back(
    stub: translation_pb2_grpc.TranslationServiceStub, path: Path
) -> None:
    data = path.read_bytes()
    out = translate(stub, data, path.name, source_language_code="en")
    if path.suffix in {".srt", ".vtt"}:
        assert out.content == data
    else:
        assert entries(out.content) == entries(data)
        assert list(entries(out.content)) == list(entries(data))  # the order too
    assert out.file_name == f"{path.stem}.ru{path.suffix}"
    assert (out.mime_type and out.flagged == []) or all(f.location for f in out.flagged)


@pytest.mark.parametrize("path", XLIFF, ids=lambda p: p.name)
def test_xliff_targets_are_filled_with_their_sources(
    stub: translation_pb2_grpc.TranslationServiceStub, path: Path
) -> None:
    from lxml import etree

    data = path.read_bytes()
    out = translate(stub, data, path.name, source_language_code="en")

    def targets(xml: bytes) -> list[tuple[str, str | None]]:
        """Each unit's (source text, target text or None), in file order."""
        found = []
        for holder in etree.fromstring(xml).iter("{*}trans-unit", "{*}segment"):
            # A 1.2 unit segmented in <seg-source> is translated segment by segment.
            source = holder.find("{*}seg-source")
            source = holder.find("{*}source") if source is None else source
            target = holder.find("{*}target")
            if source is not None:
                text = None if target is None else " ".join("".join(target.itertext()).split())
                found.append((" ".join("".join(source.itertext()).split()), text))
        return found

    before, after = targets(data), targets(out.content)
    assert [s for s, _ in before] == [s for s, _ in after]
    written = [(s, a) for (s, b), (_, a) in zip(before, after, strict=True) if a != b]
    # Every target written equals its source (the identity engine), inline codes included;
    # every other target is as it was (final, approved, translate="no").
    assert all(a == s for s, a in written)
    if written:
        assert b'target-language="ru"' in out.content or b'trgLang="ru"' in out.content


def test_a_made_docx_is_translated_whole_and_reports_its_units(
    stub: translation_pb2_grpc.TranslationServiceStub,
) -> None:
    data = files_samples.docx_file()
    out = translate(stub, data, "report.docx")
    assert entries(out.content) == entries(data)
    assert out.file_name == "report.ru.docx"
    assert out.detected_language.language_code == "en"
    assert out.route.models == ["opus-mt-en-ru"] and out.units > 10
    assert out.mime_type.endswith("wordprocessingml.document")


@pytest.mark.parametrize(
    ("make", "name", "needle"),
    [
        (files_samples.zip_bomb, "bomb.docx", "compress"),
        (files_samples.BILLION_LAUGHS.encode, "laughs.xlf", "DOCTYPE"),
        (files_samples.XXE.encode, "xxe.xlf", "DOCTYPE"),
        (files_samples.docx_file, "report.docm", "macro"),
        (files_samples.encrypted, "secret.docx", "encrypted"),
        (lambda: files_samples.docx_file()[:2000], "cut.docx", ""),
        (lambda: b"%PDF-1.7\n", "paper.pdf", "PDF"),
    ],
    ids=["zip-bomb", "xml-bomb", "xxe", "macro", "encrypted", "truncated", "pdf"],
)
def test_hostile_and_broken_files_are_invalid_argument(
    stub: translation_pb2_grpc.TranslationServiceStub, make: object, name: str, needle: str
) -> None:
    content = make()  # type: ignore[operator]
    with pytest.raises(grpc.RpcError) as refused:
        translate(stub, content, name, source_language_code="en")
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert needle.lower() in refused.value.details().lower()  # type: ignore[attr-defined]
    # The server answers on.
    out = translate(stub, files_samples.docx_file(), "again.docx", source_language_code="en")
    assert out.units > 0


def test_a_file_over_the_byte_limit_names_the_flag(tmp_path: Path) -> None:
    from newsmt.models.registry import Registry

    from .conftest import running_server

    registry = Registry.load().with_engine("identity")
    data = files_samples.docx_file()
    with (
        running_server(registry, model_dir=tmp_path, max_document_bytes=len(data) - 1) as (_, at),
        grpc.insecure_channel(at) as channel,
    ):
        stub = translation_pb2_grpc.TranslationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            translate(stub, data, "big.docx", source_language_code="en")
        assert "(--max-document-bytes)" in refused.value.details()  # type: ignore[attr-defined]


def test_the_tiny_models_give_files_that_open_and_flag_their_cues(
    tiny_server: tuple[NewsmtServer, str],
) -> None:
    import docx
    import pysubs2

    with grpc.insecure_channel(tiny_server[1]) as channel:
        stub = translation_pb2_grpc.TranslationServiceStub(channel)
        out = translate(stub, files_samples.docx_file(), "report.docx", source_language_code="en")
        assert out.route.demo and out.units > 10
        opened = docx.Document(io.BytesIO(out.content))
        assert opened.paragraphs
        assert out.quality.flagged_sentences > 0 and out.flagged
        assert all(
            f.location.startswith(("paragraph", "header", "footer", "footnote", "table"))
            or f.location
            for f in out.flagged
        )
        srt = (DATA / "newsmt_features.srt").read_bytes()
        subs = translate(stub, srt, "clip.srt", source_language_code="en")
        parsed = pysubs2.SSAFile.from_string(subs.content.decode("utf-8-sig"))
        assert len(parsed) == len(pysubs2.SSAFile.from_string(srt.decode("utf-8-sig")))
        # Random weights fill every line to its bound: some cue must be too long or too fast.
        assert any(f.location.startswith("cue") for f in subs.flagged)


def test_the_client_translates_a_file_by_path_or_bytes(
    identity_server: tuple[NewsmtServer, str], identity_client: Client, tmp_path: Path
) -> None:
    import asyncio

    from newsmt.client import AsyncClient

    path = tmp_path / "clip.srt"
    path.write_bytes((DATA / "newsmt_features.srt").read_bytes())
    done = identity_client.translate_document(path, target="ru", source="en")
    assert done.content == path.read_bytes() and done.file_name == "clip.ru.srt"
    assert done.save(tmp_path).read_bytes() == done.content
    data = files_samples.docx_file()
    by_bytes = identity_client.translate_document(data, target="es", file_name="a.docx")
    assert by_bytes.file_name == "a.es.docx" and by_bytes.detected_language.language == "en"
    assert entries(by_bytes.content) == entries(data)

    async def call() -> TranslatedDocument:
        async with AsyncClient(identity_server[1], timeout=60) as client:
            return await client.translate_document(path, target="ru", source="en")

    assert asyncio.run(call()).content == done.content


PAGES = Path(__file__).parent / "data" / "pages"


@pytest.mark.parametrize(
    "name",
    [
        "libxml2-tutorial-index.html",  # ISO-8859-1, declared
        "apache-ko-programs-htpasswd.html",  # EUC-KR, declared (Korean: source given)
        "apache-ru-getting-started.html",  # UTF-8, Russian
        "sqlite-cli.html",  # 93 KB, 40,000+ characters of text
    ],
)
def test_real_pages_as_files_come_back_byte_for_byte(
    stub: translation_pb2_grpc.TranslationServiceStub, name: str
) -> None:
    data = (PAGES / name).read_bytes()
    source = "ru" if name.startswith("apache-ru") else "en"
    out = translate(stub, data, name, source_language_code=source, target="es")
    assert out.content == data
    assert out.mime_type == "text/html" and out.file_name.endswith(".es.html")


def test_text_files_keep_their_encoding_and_name_their_lines(
    stub: translation_pb2_grpc.TranslationServiceStub,
) -> None:
    text = "The council met on Tuesday.\n\nIt approved the budget.\n"
    for data in (text.encode("utf-16"), b"\xef\xbb\xbf" + text.encode(), text.encode("cp1252")):
        out = translate(stub, data, "notes.txt", source_language_code="en")
        assert out.content == data and out.units == 2
    markdown = b"# Budget\n\nThe **council** met on Tuesday.\n"
    out = translate(stub, markdown, "story.md", source_language_code="en")
    assert out.content == markdown and out.file_name == "story.ru.md"
    with pytest.raises(grpc.RpcError) as refused:
        translate(stub, b"\x00\x01\x02binary", "blob.txt", source_language_code="en")
    assert "not text" in refused.value.details()  # type: ignore[attr-defined]
