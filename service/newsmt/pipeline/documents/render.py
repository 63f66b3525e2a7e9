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


_ESCAPES: dict[Format, project.Escape] = {
    "plain": escape_plain,
    "html": escape_html,
    "markdown": escape_markdown,
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


def _markup_writer(doc: Document, outputs: Sequence[UnitOutput | None]) -> project.MarkupOf:
    """`markup_of(raw, at)`: the source slice `raw` (found at offset `at`) with the translated
    attribute values inside it written in."""
    source = doc.source
    # Translated attribute values: (start, end, replacement), in source order.
    values: list[tuple[int, int, str]] = []
    for unit, output in zip(doc.units, outputs, strict=True):
        if unit.kind == "attribute" and output is not None and output[0] != unit.text:
            values.append(
                (unit.source_start, unit.source_end, escape_attribute(output[0], unit.quote))
            )
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


def render(doc: Document, outputs: Sequence[UnitOutput | None]) -> Rendered:
    """The document with each unit ``i`` replaced by ``outputs[i]``: ``(text, alignment)``, or
    None for a unit that was not translated (rendered from its source)."""
    if len(outputs) != len(doc.units):
        raise ValueError(f"outputs: {len(outputs)} given for {len(doc.units)} units")
    source = doc.source
    markup_of = _markup_writer(doc, outputs)
    escape = _ESCAPES[doc.format]
    parts: list[str] = []
    degraded: list[int] = []
    cursor = 0
    for unit, output in zip(doc.units, outputs, strict=True):
        if unit.kind != "sentence":
            continue
        parts.append(markup_of(source[cursor : unit.source_start], cursor))
        cursor = unit.source_end
        original = source[unit.source_start : unit.source_end]
        if output is None or output[0] == unit.text:
            parts.append(markup_of(original, unit.source_start))
            continue
        text, was_degraded = project.render_unit(
            unit, output[0], output[1], escape=escape, markup_of=markup_of
        )
        parts.append(text)
        if was_degraded:
            degraded.append(unit.index)
    parts.append(markup_of(source[cursor:], cursor))
    return Rendered("".join(parts), bool(degraded) or doc.degraded, tuple(degraded))


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
    sentence is one piece (none when its source is empty)."""
    sentences = [unit for unit in doc.units if unit.kind == "sentence"]
    if not sentences:
        if not doc.source:
            return []
        return [PieceSpan(0, len(doc.source), None, tuple(u.index for u in doc.units))]
    spans: list[PieceSpan] = []
    start = 0
    for k, unit in enumerate(sentences):
        end = len(doc.source) if k == len(sentences) - 1 else unit.source_end
        needs = tuple(
            u.index
            for u in doc.units
            if u.index == unit.index or (u.kind == "attribute" and start <= u.source_start < end)
        )
        spans.append(PieceSpan(start, end, unit.index, needs))
        start = end
    return spans


def render_pieces(
    doc: Document,
    outputs: Sequence[UnitOutput | None],
    spans: Sequence[PieceSpan] | None = None,
) -> list[RenderedPiece]:
    """`spans` (default: all of `piece_spans(doc)`) rendered as `render` renders them: their
    texts, for every span of the document joined in order, are `render(doc, outputs).text`.
    A piece reads only the outputs of its `needs`, so a stream can render the first pieces
    while later units are still None."""
    if len(outputs) != len(doc.units):
        raise ValueError(f"outputs: {len(outputs)} given for {len(doc.units)} units")
    source = doc.source
    markup_of = _markup_writer(doc, outputs)
    escape = _ESCAPES[doc.format]
    out: list[RenderedPiece] = []
    for span in piece_spans(doc) if spans is None else spans:
        if span.unit is None:
            text = markup_of(source[span.source_start : span.source_end], span.source_start)
            out.append(RenderedPiece(span, text, False))
            continue
        unit = doc.units[span.unit]
        output = outputs[span.unit]
        parts = [markup_of(source[span.source_start : unit.source_start], span.source_start)]
        degraded = False
        if output is None or output[0] == unit.text:
            parts.append(markup_of(source[unit.source_start : unit.source_end], unit.source_start))
        else:
            text, degraded = project.render_unit(
                unit, output[0], output[1], escape=escape, markup_of=markup_of
            )
            parts.append(text)
        parts.append(markup_of(source[unit.source_end : span.source_end], unit.source_end))
        out.append(RenderedPiece(span, "".join(parts), degraded))
    return out
