"""What every file format hands back: the written file and what was found while writing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from newsmt import charsets
from newsmt.core.errors import InvalidArgument
from newsmt.pipeline.documents.files import kinds
from newsmt.pipeline.documents.files.kinds import FileKind
from newsmt.pipeline.documents.model import Document, UnitOutput
from newsmt.pipeline.quality import Flag

#: Quality flags by (part, unit).
Flags = Mapping[tuple[int, int], set[Flag]]


def read_text(content: bytes, kind: FileKind, *, html: bool = False) -> charsets.Decoded:
    """A text file's content as `newsmt.charsets` reads it (a byte-order mark, an HTML page's
    declared charset, UTF-8, then detection); InvalidArgument when it is not text."""
    try:
        return charsets.decode(content, html=html)
    except charsets.UndecodableError as exc:
        raise InvalidArgument.field(
            "content", f"the {kind.kind.upper()} file is not text: {exc}"
        ) from None


@dataclass(frozen=True)
class Written:
    content: bytes
    kind: FileKind
    #: Flags found while writing (a subtitle cue too long, too fast), by (part, unit): every
    #: unit with text in the flagged cue.
    flags: dict[tuple[int, int], set[Flag]] = field(default_factory=dict)
    #: The same flags by where a person finds them ("cue 14"), exactly per cue.
    flags_by_location: dict[str, set[Flag]] = field(default_factory=dict)
    #: Units whose inline markup was placed by the fallback, not by alignment.
    degraded: tuple[tuple[int, int], ...] = ()

    @property
    def mime_type(self) -> str:
        return self.kind.mime_type

    @property
    def markup_degraded(self) -> bool:
        return bool(self.degraded)

    def file_name_for(self, original: str, target: str) -> str:
        """``report.docx`` -> ``report.ru.docx``."""
        return kinds.file_name_for(original, self.kind, target)


class Reader(Protocol):
    """A file read by its format."""

    kind: FileKind
    #: The language the file says its source is in (XLIFF), as a primary subtag.
    source_language: str | None

    def documents(self, language: str) -> list[Document]:
        """The translatable parts, cut into sentences for `language`."""
        ...

    def plain_text(self) -> str: ...

    def location(self, doc: Document, part: int, unit: int) -> str: ...

    def write(
        self,
        docs: Sequence[Document],
        outputs: Sequence[Sequence[UnitOutput | None]],
        target: str,
        flags: Flags,
    ) -> Written: ...
