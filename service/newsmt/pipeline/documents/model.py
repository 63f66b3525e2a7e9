"""The document model: what a parsed document holds, and what a translation hands back.

A `Document` is the original string plus its translatable `Unit`s. Everything that is not in a
unit (tags between sentences, opaque elements, whitespace, block markers) is the *skeleton*: the
slices of `Document.source` between units, copied byte for byte when the document is rendered.

Offsets are code-point offsets (Python string indexes). Spans are half-open, ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

Format = Literal["plain", "html", "markdown", "xml"]
#: The formats a request may name. "xml" is the text of XML file parts (`documents.files`).
FORMATS: tuple[Format, ...] = ("plain", "html", "markdown")


@dataclass(frozen=True, slots=True)
class Mark:
    """Inline markup around a character span of a unit's text: an HTML inline element
    (``<b>``, ``<a href=...>``) or a Markdown emphasis, strong, link or image.

    A mark whose element crosses a sentence boundary is split: the first unit gets a piece with
    only `open` (its span runs to the unit's end), the last gets a piece with only `close` (its
    span starts at 0); a unit the element wholly covers gets no piece at all, since the element's
    tags are outside it. A close that is missing in the source (an unclosed ``<b>``, or one closed
    implicitly by a mis-nested end tag) is `close == ""`: nothing is emitted for it.
    """

    #: The opening markup exactly as written in the source ("" when it is before this unit).
    open: str
    #: The closing markup exactly as written ("" when after this unit, or missing in the source).
    close: str
    #: The span of the unit's text the element covers.
    start: int
    end: int
    #: Source offsets of `open` and `close` in `Document.source`; -1 when the string is "".
    open_at: int
    close_at: int
    #: Index, in `Unit.marks`, of the enclosing mark of this unit; None at top level. Marks are
    #: listed parents first.
    parent: int | None


@dataclass(frozen=True, slots=True)
class Void:
    """Markup with no text of its own at a position of a unit's text: ``<img>``, ``<wbr>``, a
    comment, a stray end tag, an inline ``<script>``, raw HTML inside Markdown."""

    markup: str
    #: Position in the unit's text (between characters).
    at: int
    #: Offset of `markup` in `Document.source`.
    source_at: int
    #: Index of the enclosing mark in `Unit.marks`, or None.
    parent: int | None


@dataclass(frozen=True, slots=True)
class Protected:
    """A span of a unit's text that must come back exactly: a URL, e-mail address, @handle or
    #hashtag, or the text of an inline opaque element (``<code>``, a Markdown code span, an
    element under ``translate="no"``)."""

    start: int
    end: int
    #: "url", "email", "handle", "hashtag", "domain" or "code".
    kind: str
    #: What to emit where the span's text is found in the output: the source exactly as written
    #: (entities, escapes and, for "code", the element's own tags). None: emit the text itself,
    #: escaped like any output text.
    markup: str | None
    #: Offset of `markup` in `Document.source` (-1 when `markup` is None).
    source_at: int
    #: For "code": index of the enclosing mark in `Unit.marks` (its tags must stay inside it).
    parent: int | None = None


@dataclass(frozen=True, slots=True)
class Unit:
    """One piece of text to translate: a sentence within a block, or an attribute value."""

    index: int
    #: "sentence", or "attribute" for an HTML alt/title/placeholder/aria-label value.
    kind: Literal["sentence", "attribute"]
    #: The model's input: plain text, entities decoded, no markup, HTML whitespace collapsed.
    text: str
    #: The unit's span in `Document.source`: from its first character's source to its last's
    #: end, including the markup between them (for an attribute: the value, without quotes).
    source_start: int
    source_end: int
    marks: tuple[Mark, ...]
    voids: tuple[Void, ...]
    protected: tuple[Protected, ...]
    #: False when there is nothing for a model to do: no letters outside protected spans (a bare
    #: URL, "2024.", "—"). Such a unit is rendered as it came; give it None as its output.
    needs_model: bool
    #: Units of one HTML block, Markdown paragraph/heading/cell share this number: the markup
    #: of a block is balanced within it whenever the source's is (a stream can send a block at
    #: a time). In plain text every sentence is its own block.
    block: int
    #: For an attribute unit: the attribute name, and the quote character around the value
    #: ("" when unquoted). None and "" for sentences.
    attribute: str | None = None
    quote: str = ""


@dataclass(frozen=True, slots=True)
class Document:
    format: Format
    source: str
    language: str
    #: In source order (an attribute unit inside a sentence comes after that sentence).
    units: tuple[Unit, ...]
    #: Part of the document could not be mapped onto its source (an odd Markdown construct)
    #: and is copied untranslated; rendering reports `markup_degraded`.
    degraded: bool = False


class TokenLink(NamedTuple):
    """One output token and the source token it attends to most (argmax), in characters:
    ``out[out_start:out_end]`` in the translation, ``text[src_start:src_end]`` in the unit."""

    out_start: int
    out_end: int
    src_start: int
    src_end: int


#: Output tokens in order, each linked to a source span. Tokens linked to nothing (end marker,
#: an unmappable token) are left out.
Alignment = tuple[TokenLink, ...]

#: What a translation hands back for one unit: the text and its alignment (None when the
#: engine gave none). None instead of the pair: the unit was not translated.
UnitOutput = tuple[str, Sequence[TokenLink] | None]


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    #: At least one unit's markup was placed by fallback (relative position), not alignment.
    markup_degraded: bool
    #: The indexes of those units.
    degraded_units: tuple[int, ...] = ()
