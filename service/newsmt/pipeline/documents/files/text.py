"""Text files: plain text, HTML and Markdown, in any encoding.

The encoding is read as `newsmt charsets` reads it for the CLI (`newsmt.charsets`): a
byte-order mark decides, then an HTML page's declared charset, then UTF-8, then detection.
The file is one document of its format; written back, the translation keeps the file's
encoding where it fits (in HTML, a character that does not becomes a numeric character
reference), else it is UTF-8 with the page's declaration updated. Unchanged, the file comes
back byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence

from newsmt import charsets
from newsmt.pipeline.documents import Format, render, scan
from newsmt.pipeline.documents.files.base import Flags, Written, read_text
from newsmt.pipeline.documents.files.kinds import FileKind
from newsmt.pipeline.documents.model import Document, UnitOutput

_FORMATS: dict[str, Format] = {"txt": "plain", "html": "html", "markdown": "markdown"}


class TextFile:
    """A plain text, HTML or Markdown file read for translation."""

    def __init__(self, content: bytes, kind: FileKind) -> None:
        self.kind = kind
        self.format = _FORMATS[kind.kind]
        self.source_language: str | None = None
        self.decoded = read_text(content, kind, html=self.format == "html")
        self._scan = scan(self.decoded.text, self.format)

    def documents(self, language: str) -> list[Document]:
        return [self._scan.document(language)]

    def plain_text(self) -> str:
        return self._scan.plain_text()

    def location(self, doc: Document, part: int, unit: int) -> str:
        """The line of the file the sentence starts on."""
        return f"line {doc.source.count(chr(10), 0, doc.units[unit].source_start) + 1}"

    def write(
        self,
        docs: Sequence[Document],
        outputs: Sequence[Sequence[UnitOutput | None]],
        target: str,
        flags: Flags,
    ) -> Written:
        rendered = render(docs[0], outputs[0])
        encoded = charsets.encode(rendered.text, self.decoded, html=self.format == "html")
        degraded = tuple((0, index) for index in rendered.degraded_units)
        return Written(encoded.data, self.kind, degraded=degraded)
