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


def render(doc: Document, outputs: Sequence[UnitOutput | None]) -> Rendered:
    """The document with each unit ``i`` replaced by ``outputs[i]``: ``(text, alignment)``, or
    None for a unit that was not translated (rendered from its source)."""
    if len(outputs) != len(doc.units):
        raise ValueError(f"outputs: {len(outputs)} given for {len(doc.units)} units")
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
        """`raw` (found at offset `at`) with the translated attribute values inside it."""
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
