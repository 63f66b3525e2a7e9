"""Documents: plain text, HTML and Markdown, parsed into translatable units and put back
together around their translations, with protected spans and glossaries.

    doc = parse(text, "html", "en")
    outputs = [translate(u) if u.needs_model else None for u in doc.units]
    rendered = render(doc, outputs)      # rendered.text, rendered.markup_degraded

Everything here is pure: no engine, scheduler or server. See `model` for the types, `align` for
building alignments from model attention, `protect` and `glossary` for the post-decoding checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from newsmt.core.errors import Internal
from newsmt.pipeline.documents import html as _html
from newsmt.pipeline.documents import markdown as _markdown
from newsmt.pipeline.documents import render as _render
from newsmt.pipeline.documents.align import (
    attention_to_alignment,
    compose,
    diagonal,
    merge_pieces,
    token_spans,
)
from newsmt.pipeline.documents.blocks import Block
from newsmt.pipeline.documents.glossary import Applied, Entry, Glossary, TermMatch, merge_reports
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
    "merge_reports",
    "parse",
    "render",
    "token_spans",
]


def parse(text: str, fmt: Format, language: str) -> Document:
    """Parse `text` as `fmt` into units. Never raises on malformed input; an internal failure
    is reported as `Internal` without any of the text."""
    check_format(fmt)
    try:
        degraded = False
        if fmt == "html":
            units = _html.parse(text, language)
        elif fmt == "markdown":
            found, degraded = _markdown.parse(text, language)
            units = _indexed(found)
        else:
            block = Block()
            block.text(text, 0)
            units = _indexed(block.cut(text, language, 0, each_own_block=True))
    except Exception:
        raise Internal(f"the {fmt} document parser failed") from None
    return Document(fmt, text, language, units, degraded)


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
