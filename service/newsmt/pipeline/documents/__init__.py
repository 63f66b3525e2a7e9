"""Documents: plain text, HTML and Markdown, parsed into translatable units and put back
together around their translations, with protected spans and glossaries.

    doc = parse(text, "html", "en")       # or: read = scan(text, "html"); detect on
                                          # read.plain_text(); doc = read.document(language)
    outputs = [translate(u) if u.needs_model else None for u in doc.units]
    rendered = render(doc, outputs)      # rendered.text, rendered.markup_degraded

Everything here is pure: no engine, scheduler or server. See `model` for the types, `align` for
building alignments from model attention, `finish` for the repairs after decoding (protected
spans, glossary terms), `render` for putting a document (or a stream's pieces) back together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from newsmt.core.errors import Internal
from newsmt.pipeline.documents import html as _html
from newsmt.pipeline.documents import markdown as _markdown
from newsmt.pipeline.documents import plain as _plain
from newsmt.pipeline.documents import render as _render
from newsmt.pipeline.documents.align import (
    attention_to_alignment,
    compose,
    diagonal,
    merge_pieces,
    token_spans,
)
from newsmt.pipeline.documents.blocks import Scanned
from newsmt.pipeline.documents.glossary import Applied, Entry, Glossary, TermMatch, merge_terms
from newsmt.pipeline.documents.limits import (
    MAX_GLOSSARY_ENTRIES,
    check_format,
    check_glossary,
)
from newsmt.pipeline.documents.model import (
    FORMATS,
    Alignment,
    Document,
    Format,
    Mark,
    Protected,
    Rendered,
    TokenLink,
    Unit,
    UnitOutput,
    Void,
)
from newsmt.pipeline.documents.protect import Repaired

__all__ = [
    "FORMATS",
    "MAX_GLOSSARY_ENTRIES",
    "Alignment",
    "Applied",
    "Document",
    "Entry",
    "Format",
    "Glossary",
    "Mark",
    "Protected",
    "Rendered",
    "Repaired",
    "Scan",
    "TermMatch",
    "TokenLink",
    "Unit",
    "UnitOutput",
    "Void",
    "attention_to_alignment",
    "check_format",
    "check_glossary",
    "compose",
    "diagonal",
    "merge_pieces",
    "merge_terms",
    "parse",
    "plain_text",
    "render",
    "scan",
    "token_spans",
]


@dataclass(frozen=True)
class Scan:
    """A document read up to its blocks: what a reader reads is known (`plain_text`, for
    language detection), the sentences, which depend on the language, are not cut yet
    (`document`). So a document whose language must be detected is still parsed once."""

    format: Format
    source: str
    scanned: Scanned
    #: Part of the document could not be mapped onto its source (Markdown).
    degraded: bool = False

    def plain_text(self) -> str:
        """What a reader reads, without markup (plain text: the text as it is)."""
        return self.source if self.format == "plain" else self.scanned.plain_text()

    def document(self, language: str) -> Document:
        """The document with its sentences cut for `language`."""
        try:
            units = _indexed(self.scanned.units(language))
        except Exception:
            raise Internal(f"the {self.format} document parser failed") from None
        return Document(self.format, self.source, language, units, self.degraded)


def scan(text: str, fmt: Format) -> Scan:
    """Read `text` as `fmt` up to its blocks. Never raises on malformed input; an internal
    failure is reported as `Internal` without any of the text."""
    check_format(fmt)
    try:
        degraded = False
        if fmt == "html":
            scanned = _html.scan(text)
        elif fmt == "markdown":
            scanned, degraded = _markdown.scan(text)
        else:
            scanned = _plain.scan(text)
    except Exception:
        raise Internal(f"the {fmt} document parser failed") from None
    return Scan(fmt, text, scanned, degraded)


def parse(text: str, fmt: Format, language: str) -> Document:
    """Parse `text` as `fmt` into units for `language` (`scan`, then `Scan.document`)."""
    return scan(text, fmt).document(language)


def plain_text(doc: Document) -> str:
    """What a reader would read of a document, without its markup: each block's sentences
    joined by spaces, blocks by blank lines (attribute values left out). Plain text comes
    back as it is."""
    if doc.format == "plain":
        return doc.source
    blocks: dict[int, list[str]] = {}
    for unit in doc.units:
        if unit.kind == "sentence":
            blocks.setdefault(unit.block, []).append(unit.text)
    return "\n\n".join(" ".join(texts) for _, texts in sorted(blocks.items()))


def render(doc: Document, outputs: Sequence[UnitOutput | None]) -> Rendered:
    """Put `doc` back together with ``outputs[i]`` for unit ``i``: ``(text, alignment)``, or
    None for a unit left as it was. Raises ValueError if the count is wrong."""
    if len(outputs) != len(doc.units):
        raise ValueError(f"outputs: {len(outputs)} given for {len(doc.units)} units")
    try:
        return _render.render(doc, outputs)
    except Exception:
        raise Internal(f"the {doc.format} document renderer failed") from None


def _indexed(units: list[Unit]) -> tuple[Unit, ...]:
    units.sort(key=lambda u: u.source_start)
    return tuple(replace(u, index=i) for i, u in enumerate(units))
