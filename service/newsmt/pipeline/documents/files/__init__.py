"""Files: DOCX, PPTX, XLSX, SRT, WebVTT, XLIFF, and plain text, HTML and Markdown in any
encoding, read into the document model and written back around their translations, with every
byte that is not translated text kept.

    doc = open_file(content, mime_type, file_name)    # InvalidArgument for a bad file
    detected = detect(doc.plain_text())                # the caller's language detection
    doc = doc.for_language(detected)                   # sentences are cut for the language
    outputs = [[translate(u) if u.needs_model else None for u in part.units]
               for part in doc.parts]
    written = doc.write(outputs, "ru", flags=quality_flags)
    written.content, written.file_name_for("report.docx", "ru"), written.flags

Each part is a `Document` whose units are sentences; an output is ``(text, alignment)`` as
`documents.render` takes it, or None for a unit left as it was. Everything here is pure: no
engine, scheduler or server. PDF is not supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from newsmt.core.errors import InvalidArgument, NewsmtError
from newsmt.pipeline.documents.files import kinds
from newsmt.pipeline.documents.files.base import Flags, Reader, Written
from newsmt.pipeline.documents.files.kinds import SUPPORTED, FileKind
from newsmt.pipeline.documents.files.office import OfficeFile
from newsmt.pipeline.documents.files.subtitles import SubtitleFile
from newsmt.pipeline.documents.files.text import TextFile
from newsmt.pipeline.documents.files.xliff import XliffFile
from newsmt.pipeline.documents.model import Document, UnitOutput

__all__ = [
    "SUPPORTED",
    "FileDocument",
    "FileKind",
    "Flags",
    "UnitOutput",
    "Written",
    "open_file",
]


@dataclass
class FileDocument:
    """A file read for translation; `parts` are cut into sentences for `language`."""

    reader: Reader
    language: str

    @property
    def kind(self) -> str:
        """ "docx", "pptx", "xlsx", "srt", "vtt", "xliff", "txt", "html" or "markdown"."""
        return self.reader.kind.kind

    @property
    def mime_type(self) -> str:
        return self.reader.kind.mime_type

    @property
    def source_language(self) -> str | None:
        """The source language the file declares (XLIFF), as a primary subtag ("en")."""
        return self.reader.source_language

    @cached_property
    def parts(self) -> list[Document]:
        return self.reader.documents(self.language)

    def for_language(self, language: str) -> FileDocument:
        """The same file with its sentences cut for `language` (nothing is read again)."""
        return self if language == self.language else replace(self, language=language)

    def plain_text(self) -> str:
        """What a reader reads, without markup: for language detection."""
        return self.reader.plain_text()

    def location(self, part: int, unit: int) -> str:
        """Where a person finds a unit: "paragraph 12", "slide 3", "Sheet1!B7", "cue 14", a
        trans-unit id."""
        return self.reader.location(self.parts[part], part, unit)

    def write(
        self,
        outputs: Sequence[Sequence[UnitOutput | None]],
        target_language: str,
        flags: Flags | None = None,
    ) -> Written:
        """The file with ``outputs[part][unit]`` in place of each unit (None: left as it was).
        `flags` are the quality flags per unit: XLIFF writes them into the file. Raises
        ValueError if the outputs do not match the parts."""
        docs = self.parts
        if len(outputs) != len(docs):
            raise ValueError(f"outputs: {len(outputs)} parts given for {len(docs)}")
        for k, (doc, out) in enumerate(zip(docs, outputs, strict=True)):
            if len(out) != len(doc.units):
                raise ValueError(f"outputs[{k}]: {len(out)} given for {len(doc.units)} units")
        return self.reader.write(docs, outputs, target_language, flags or {})


def open_file(
    content: bytes, mime_type: str = "", file_name: str = "", language: str | None = None
) -> FileDocument:
    """Read a file. Its kind comes from `mime_type`, else `file_name`'s extension, else the
    content. Sentences are cut for `language` (default: the language the file declares, else
    English; `FileDocument.for_language` changes it).

    Raises InvalidArgument, naming why, for a file that is unsupported, macro-enabled,
    encrypted, corrupt or truncated, too large unpacked, or XML with a DOCTYPE."""
    kind = kinds.resolve(content, mime_type, file_name)
    try:
        reader: Reader
        if kind.kind in ("docx", "pptx", "xlsx"):
            reader = OfficeFile(content, kind)
        elif kind.kind in ("srt", "vtt"):
            reader = SubtitleFile(content, kind)
        elif kind.kind == "xliff":
            reader = XliffFile(content, kind)
        else:
            reader = TextFile(content, kind)
    except NewsmtError:
        raise
    except Exception:
        # A structure the readers do not understand: the file's fault far more often than
        # ours, and never worth an INTERNAL error.
        raise InvalidArgument.field(
            "content", f"the {kind.kind.upper()} file could not be read: its structure is invalid"
        ) from None
    return FileDocument(reader, language or reader.source_language or "en")
