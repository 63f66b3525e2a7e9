"""Putting a translated document back together.

The skeleton (every source slice between sentence units) is copied byte for byte, with the
translated attribute values written into their tags. A unit whose output is exactly its input
text, or that was not translated, is copied from its source too: that is what makes an identity
round trip byte-identical, entities, original whitespace and unclosed tags included. Any other
unit is its output, escaped for the format, with its markup placed by `project`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from newsmt.pipeline.documents import project
from newsmt.pipeline.documents.model import Document, Format, Rendered, UnitOutput
from newsmt.pipeline.documents.plain import SOFT_BREAK_SPACE

_MD_SPECIAL = re.compile(r"[\\`*_\[\]<|~]|&(?=#?\w+;)")
_MD_LINE_START = re.compile(r"[#+\-=>]|\d+(?=[.)])")
_UNQUOTED_UNSAFE = re.compile(r"[\s\"'=<>`]")


def escape_html(text: str, first: bool = False) -> str:
    """Output text as an HTML text node: ``&``, ``<`` and ``>`` escaped, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_markdown(text: str, first: bool = False) -> str:
    """Output text as Markdown inline text: characters that could open markup (emphasis, code,
    links, raw HTML, table pipes, entities) are backslash-escaped, a line break becomes a space,
    and at the start of a unit a block marker (``#``, ``-``, ``1.``) is escaped too."""
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), text.replace("\r", " ").replace("\n", " "))
    if first:
        m = _MD_LINE_START.match(text)
        if m is not None:
            at = m.end() if m.group()[0].isdigit() else 0
            text = text[:at] + "\\" + text[at:]
    return text


def escape_plain(text: str, first: bool = False) -> str:
    return text


#: Characters XML 1.0 does not allow in a document, even as references.
INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def escape_xml(text: str, first: bool = False) -> str:
    """Output text as XML character data: ``&``, ``<`` and ``>`` escaped, and characters XML
    cannot hold at all dropped."""
    return escape_html(INVALID_XML_CHARS.sub("", text))


_ESCAPES: dict[Format, project.Escape] = {
    "plain": escape_plain,
    "html": escape_html,
    "markdown": escape_markdown,
    "xml": escape_xml,
}


def escape_attribute(text: str, quote: str) -> str:
    """An attribute value for its quoting: escaped, and quoted if it was bare and must be."""
    value = escape_html(text)
    if quote == '"':
        return value.replace('"', "&quot;")
    if quote == "'":
        return value.replace("'", "&#x27;")
    if not value or _UNQUOTED_UNSAFE.search(value):
        return '"' + value.replace('"', "&quot;") + '"'
    return value


def _markup_writer(
    doc: Document, outputs: Sequence[UnitOutput | None], indexes: Sequence[int]
) -> project.MarkupOf:
    """`markup_of(raw, at)`: the source slice `raw` (found at offset `at`) with the translated
    attribute values inside it written in, for the units `indexes` (a piece's own)."""
    source = doc.source
    # Translated attribute values: (start, end, replacement), in source order.
    values: list[tuple[int, int, str]] = []
    for i in indexes:
        unit, output = doc.units[i], outputs[i]
        if unit.kind == "attribute" and output is not None and output[0] != unit.text:
            values.append(
                (unit.source_start, unit.source_end, escape_attribute(output[0], unit.quote))
            )
    values.sort()
    starts = [v[0] for v in values]

    def markup_of(raw: str, at: int) -> str:
        if not values or at < 0:
            return raw
        i = bisect.bisect_left(starts, at)
        if i >= len(values) or values[i][0] >= at + len(raw):
            return raw
        parts: list[str] = []
        cursor = at
        while i < len(values) and values[i][1] <= at + len(raw):
            start, end, value = values[i]
            parts.append(source[cursor:start])
            parts.append(value)
            cursor = end
            i += 1
        parts.append(source[cursor : at + len(raw)])
        return "".join(parts)

    return markup_of


@dataclass(frozen=True, slots=True)
class PieceSpan:
    """A piece of a document as a stream sends it: a sentence unit with the skeleton before it
    (the first piece from offset 0, the last to the end of the source). The pieces tile the
    source, so their renderings joined are `render`'s text."""

    source_start: int
    source_end: int
    #: Index of its sentence unit; None for the one piece of a document without sentences.
    unit: int | None
    #: Indexes of the units whose outputs its rendering reads: its sentence and the attribute
    #: values inside its span.
    needs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RenderedPiece:
    span: PieceSpan
    text: str
    #: Its sentence's inline markup was placed by the fallback.
    degraded: bool


def piece_spans(doc: Document) -> list[PieceSpan]:
    """The pieces of `doc`, in document order: one per sentence unit; a document with no
    sentence is one piece (none when its source is empty). Linear in the units."""
    sentences = [unit for unit in doc.units if unit.kind == "sentence"]
    if not sentences:
        if not doc.source:
            return []
        return [PieceSpan(0, len(doc.source), None, tuple(u.index for u in doc.units))]
    # Attribute units by source offset: each falls in exactly one piece's span.
    attributes = sorted((u.source_start, u.index) for u in doc.units if u.kind == "attribute")
    spans: list[PieceSpan] = []
    start = 0
    next_attribute = 0
    for k, unit in enumerate(sentences):
        end = len(doc.source) if k == len(sentences) - 1 else unit.source_end
        needs = [unit.index]
        while next_attribute < len(attributes) and attributes[next_attribute][0] < end:
            if attributes[next_attribute][0] >= start:
                needs.append(attributes[next_attribute][1])
            next_attribute += 1
        spans.append(PieceSpan(start, end, unit.index, tuple(sorted(needs))))
        start = end
    return spans


def render_piece(
    doc: Document, outputs: Sequence[UnitOutput | None], span: PieceSpan
) -> RenderedPiece:
    """One piece of `doc`, rendered from the outputs of its own units (`span.needs`): the
    others may still be None, so a stream renders its first pieces while the rest is being
    translated, and each piece costs its own size."""
    source = doc.source
    markup_of = _markup_writer(doc, outputs, span.needs)
    if span.unit is None:
        text = markup_of(source[span.source_start : span.source_end], span.source_start)
        return RenderedPiece(span, text, False)
    unit = doc.units[span.unit]
    output = outputs[span.unit]
    parts = [markup_of(source[span.source_start : unit.source_start], span.source_start)]
    degraded = False
    if output is None or output[0] == unit.text:
        # Unchanged: copied from the source, entities and whitespace as written.
        parts.append(markup_of(source[unit.source_start : unit.source_end], unit.source_start))
    else:
        text, degraded = project.render_unit(
            unit, output[0], output[1], escape=_ESCAPES[doc.format], markup_of=markup_of
        )
        if doc.format == "plain" and unit.voids:
            # A soft line break stands for the space it was read as (`plain`).
            text = SOFT_BREAK_SPACE.sub(r"\1", text)
        parts.append(text)
    parts.append(markup_of(source[unit.source_end : span.source_end], unit.source_end))
    return RenderedPiece(span, "".join(parts), degraded)


def render(doc: Document, outputs: Sequence[UnitOutput | None]) -> Rendered:
    """The document with each unit ``i`` replaced by ``outputs[i]``: ``(text, alignment)``, or
    None for a unit that was not translated (rendered from its source). The join of its
    pieces (`render_piece`)."""
    if len(outputs) != len(doc.units):
        raise ValueError(f"outputs: {len(outputs)} given for {len(doc.units)} units")
    pieces = [render_piece(doc, outputs, span) for span in piece_spans(doc)]
    degraded = tuple(p.span.unit for p in pieces if p.degraded and p.span.unit is not None)
    return Rendered("".join(p.text for p in pieces), bool(degraded) or doc.degraded, degraded)
