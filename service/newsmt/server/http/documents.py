"""File translation for the DeepL document flow and LibreTranslate's /translate_file.

One small interface: a `DocumentTranslator` takes a file (bytes, name, MIME type) and the
languages, and returns the translated file and what it cost. The compatible APIs and the job
workers know only this interface. `FileDocuments` serves every format of `TranslateDocument`
(DOCX, PPTX, XLSX, SRT, WebVTT, XLIFF, plain text, HTML, Markdown in any encoding) through
that RPC's servicer method: the same validation, safety checks and limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from newsmt.core.errors import InvalidArgument
from newsmt.pipeline.documents.files import SUPPORTED
from newsmt.server.servicers import TranslationServicer
from newsmt.server.status import NO_RPC
from newsmt.v1 import translation_pb2


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
