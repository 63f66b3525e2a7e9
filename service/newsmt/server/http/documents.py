"""File translation for the DeepL document flow and LibreTranslate's /translate_file.

One small interface: a `DocumentTranslator` takes a file (bytes, name, MIME type) and the
languages, and returns the translated file and what it cost. The compatible APIs and the job
workers know only this interface. `TextDocuments` serves what the Translate RPC can already
translate: plain text, HTML and Markdown, through the same servicer method as Translate (so
the same validation and limits: a file is one segment of a Translate request). `FileDocuments`
serves the formats of `TranslateDocument` (DOCX, PPTX, XLSX, SRT, WebVTT, XLIFF) through that
RPC's servicer method; `http/server.py` puts it first.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from newsmt.core.errors import InvalidArgument
from newsmt.pipeline.documents.files import SUPPORTED
from newsmt.server.servicers import TranslationServicer
from newsmt.server.status import NO_RPC
from newsmt.v1 import common_pb2, translation_pb2


@dataclass(frozen=True)
class DocumentIn:
    data: bytes
    name: str  # the file name as uploaded (its extension says the format)
    mime: str  # as uploaded; may be empty or generic
    source: str  # a newsmt language code, or "" to detect
    target: str


@dataclass(frozen=True)
class DocumentOut:
    data: bytes
    name: str
    mime: str
    source: str  # the language translated from (detected when not given)
    billed_characters: int  # characters of text translated


class DocumentTranslator(Protocol):
    def supports(self, name: str) -> bool:
        """Whether this translator takes a file of this name (by its extension)."""
        ...

    def translate(self, document: DocumentIn) -> DocumentOut:
        """Translate within the current call (its deadline, cancellation and request id);
        raises NewsmtError, as a servicer method does."""
        ...

    @property
    def suffixes(self) -> Sequence[str]:
        """The extensions it takes, for error messages and /frontend discovery."""
        ...


def suffix(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


class Documents:
    """The first translator that takes the file's extension translates it."""

    def __init__(self, translators: Sequence[DocumentTranslator]) -> None:
        self.translators = list(translators)

    @property
    def suffixes(self) -> list[str]:
        return sorted({s for t in self.translators for s in t.suffixes})

    def check(self, name: str) -> DocumentTranslator:
        for translator in self.translators:
            if translator.supports(name):
                return translator
        raise InvalidArgument.field(
            "file",
            f"file type {suffix(name) or '(none)'} is not supported; use one of "
            + ", ".join(self.suffixes),
        )

    def translate(self, document: DocumentIn) -> DocumentOut:
        return self.check(document.name).translate(document)


_FORMATS = {
    ".txt": (common_pb2.TEXT_FORMAT_PLAIN, "text/plain; charset=utf-8"),
    ".html": (common_pb2.TEXT_FORMAT_HTML, "text/html; charset=utf-8"),
    ".htm": (common_pb2.TEXT_FORMAT_HTML, "text/html; charset=utf-8"),
    ".md": (common_pb2.TEXT_FORMAT_MARKDOWN, "text/markdown; charset=utf-8"),
    ".markdown": (common_pb2.TEXT_FORMAT_MARKDOWN, "text/markdown; charset=utf-8"),
}


class TextDocuments:
    """.txt, .html/.htm and .md files in UTF-8, translated whole as one Translate segment in
    the format their extension names. A byte-order mark is kept; every other byte of the
    markup comes back as the Translate path returns it."""

    def __init__(self, translation: TranslationServicer) -> None:
        self.translation = translation

    @property
    def suffixes(self) -> Sequence[str]:
        return tuple(_FORMATS)

    def supports(self, name: str) -> bool:
        return suffix(name) in _FORMATS

    def translate(self, document: DocumentIn) -> DocumentOut:
        fmt, mime = _FORMATS[suffix(document.name)]
        data = document.data
        bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
        try:
            text = data[len(bom) :].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument.field("file", "is not UTF-8 text") from None
        request = translation_pb2.TranslateRequest(
            segments=[translation_pb2.Segment(id="file", text=text)],
            source_language_code=document.source,
            target_language_code=document.target,
            format=fmt,
        )
        [result] = self.translation.Translate(request, NO_RPC).translations
        return DocumentOut(
            data=bom + result.translated_text.encode("utf-8"),
            name=document.name,
            mime=mime,
            source=result.detected_language.language_code or document.source,
            billed_characters=len(text),
        )


class FileDocuments:
    """Every file format of TranslateDocument, through its servicer method: the same
    validation (--max-document-bytes), safety checks and batching as the RPC."""

    def __init__(self, translation: TranslationServicer) -> None:
        self.translation = translation

    @property
    def suffixes(self) -> Sequence[str]:
        return tuple(ext for kind in SUPPORTED for ext in kind.extensions)

    def supports(self, name: str) -> bool:
        return suffix(name) in self.suffixes

    def translate(self, document: DocumentIn) -> DocumentOut:
        request = translation_pb2.TranslateDocumentRequest(
            content=document.data,
            file_name=document.name,
            source_language_code=document.source,
            target_language_code=document.target,
        )
        result = self.translation.TranslateDocument(request, NO_RPC)
        return DocumentOut(
            data=result.content,
            name=document.name,
            mime=result.mime_type,
            source=result.detected_language.language_code or document.source,
            billed_characters=result.characters,
        )
