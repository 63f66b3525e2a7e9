"""A block's text with its inline markup, and its cutting into sentence units.

The HTML and Markdown parsers (and plain text, with no markup) feed a `Block`: text runs mapped
onto the source, inline elements opening and closing, markup with no text (voids), and opaque
atoms whose text the model sees but whose source is copied exactly. `Block.cut` then segments
the text with `segment()`, keeps sentence breaks out of protected spans, and builds one `Unit`
per sentence with the markup strictly inside it. Markup at a sentence's edges stays outside
every unit: it is part of the skeleton and is copied as it is.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

from newsmt.pipeline.documents import protect
from newsmt.pipeline.documents.model import Mark, Protected, Unit, Void
from newsmt.pipeline.segment import segment

OPEN, CLOSE, VOID = 0, 1, 2


@dataclass(slots=True)
class Event:
    #: Position in the block's text (markup sits between characters).
    at: int
    kind: int
    #: The markup as written; "" for an implicit close (nothing to emit).
    raw: str
    source_at: int
    #: The element an OPEN or CLOSE belongs to, or the element around a VOID (-1: none).
    elem: int


@dataclass(slots=True)
class Atom:
    start: int
    end: int
    markup: str
    source_at: int
    #: The element around it (-1: none).
    elem: int


class Block:
    """Text and markup of one block, in source order."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        #: Runs of text: where each starts in the text and in the source; the source end for a
        #: run whose characters all stand for one source span (an entity, an atom), else -1.
        self._run_text: list[int] = []
        self._run_source: list[int] = []
        self._run_source_end: list[int] = []
        self.events: list[Event] = []
        self.atoms: list[Atom] = []
        #: Open elements, innermost last.
        self.stack: list[int] = []
        #: Per element: its enclosing element (-1: none) and its depth.
        self._parent: list[int] = []
        self._depth: list[int] = []
        self.last = ""

    # -- feeding -----------------------------------------------------------------------------

    def text(self, text: str, source_at: int) -> None:
        """Characters copied one for one from ``source[source_at:]``."""
        if text:
            self._run(text, source_at, -1)

    def atomic(self, text: str, source_at: int, source_end: int) -> None:
        """Characters that together stand for ``source[source_at:source_end]``."""
        if text:
            self._run(text, source_at, source_end)

    def space(self, source_at: int, source_end: int) -> None:
        """Collapsible whitespace (HTML): one space, none after a space or at a block start."""
        if self.last not in ("", " ", "\n"):
            self._run(" ", source_at, source_end)

    def _run(self, text: str, source_at: int, source_end: int) -> None:
        self._run_text.append(self.length)
        self._run_source.append(source_at)
        self._run_source_end.append(source_end)
        self.parts.append(text)
        self.length += len(text)
        self.last = text[-1]

    def open(self, raw: str, source_at: int) -> int:
        elem = len(self._parent)
        self._parent.append(self.stack[-1] if self.stack else -1)
        self._depth.append(len(self.stack))
        self.events.append(Event(self.length, OPEN, raw, source_at, elem))
        self.stack.append(elem)
        return elem

    def close(self, depth: int, raw: str, source_at: int) -> None:
        """Close the element at `depth` in the stack; those above it close implicitly here."""
        while len(self.stack) > depth + 1:
            self.events.append(Event(self.length, CLOSE, "", source_at, self.stack.pop()))
        self.events.append(Event(self.length, CLOSE, raw, source_at, self.stack.pop()))

    def close_all(self, source_at: int) -> None:
        """Unclosed elements end with their block (nothing is emitted for them)."""
        while self.stack:
            self.events.append(Event(self.length, CLOSE, "", source_at, self.stack.pop()))

    def void(self, raw: str, source_at: int) -> None:
        self.events.append(
            Event(self.length, VOID, raw, source_at, self.stack[-1] if self.stack else -1)
        )

    def atom(self, text: str, raw: str, source_at: int) -> None:
        """An opaque element: the model sees `text`, the output gets `raw` back exactly."""
        if not text.strip():
            self.void(raw, source_at)
            return
        elem = self.stack[-1] if self.stack else -1
        self.atoms.append(Atom(self.length, self.length + len(text), raw, source_at, elem))
        self.atomic(text, source_at, source_at + len(raw))

    # -- cutting -----------------------------------------------------------------------------

    def source_span(self, i: int) -> tuple[int, int]:
        """The source span that character `i` of the text stands for."""
        r = bisect.bisect_right(self._run_text, i) - 1
        end = self._run_source_end[r]
        if end < 0:
            at = self._run_source[r] + i - self._run_text[r]
            return at, at + 1
        return self._run_source[r], end

    def cut(
        self, source: str, language: str, block: int, *, each_own_block: bool = False
    ) -> list[Unit]:
        """The sentence units of this block (indexes are set by the caller)."""
        text = "".join(self.parts)
        if not text.strip():
            return []
        spans = self._protected_spans(text)
        ranges = _sentence_ranges(text, language, [(s.start, s.end) for s in spans])
        ats = [e.at for e in self.events]
        units = []
        for n, (a, b) in enumerate(ranges):
            lo, hi = bisect.bisect_right(ats, a), bisect.bisect_left(ats, b)
            units.append(
                self._unit(
                    source, text, a, b, self.events[lo:hi], spans, block + n * each_own_block
                )
            )
        return units

    def _protected_spans(self, text: str) -> list[protect.Span]:
        atoms = [protect.Span(a.start, a.end, "code") for a in self.atoms]
        found = [
            s
            for s in protect.find_spans(text)
            if not any(s.start < a.end and a.start < s.end for a in atoms)
        ]
        return sorted(atoms + found, key=lambda s: s.start)

    def _unit(
        self,
        source: str,
        text: str,
        a: int,
        b: int,
        inside: list[Event],
        spans: list[protect.Span],
        block: int,
    ) -> Unit:
        marks = self._marks(inside, a, b)
        in_unit = {elem: i for i, (elem, _) in enumerate(marks)}
        voids = tuple(
            Void(e.raw, e.at - a, e.source_at, self._nearest(e.elem, in_unit))
            for e in inside
            if e.kind == VOID
        )
        atoms = {x.start: x for x in self.atoms}
        protected: list[Protected] = []
        for s in spans:
            if s.start < a or s.end > b:
                continue
            if s.kind == "code":
                atom = atoms[s.start]
                protected.append(
                    Protected(
                        s.start - a,
                        s.end - a,
                        "code",
                        atom.markup,
                        atom.source_at,
                        self._nearest(atom.elem, in_unit),
                    )
                )
                continue
            markup: str | None = None
            at = -1
            if not any(s.start < e.at < s.end for e in inside):
                at, end = self.source_span(s.start)[0], self.source_span(s.end - 1)[1]
                markup = source[at:end]
            protected.append(Protected(s.start - a, s.end - a, s.kind, markup, at))
        unit_text = text[a:b]
        return Unit(
            index=-1,
            kind="sentence",
            text=unit_text,
            source_start=self.source_span(a)[0],
            source_end=self.source_span(b - 1)[1],
            marks=tuple(
                Mark(
                    m.open,
                    m.close,
                    m.start,
                    m.end,
                    m.open_at,
                    m.close_at,
                    self._nearest(self._parent[elem], in_unit),
                )
                for elem, m in marks
            ),
            voids=voids,
            protected=tuple(protected),
            needs_model=needs_model(unit_text, [(p.start, p.end) for p in protected]),
            block=block,
        )

    def _marks(self, inside: list[Event], a: int, b: int) -> list[tuple[int, Mark]]:
        """The element pieces inside ``text[a:b]``, parents first."""
        opens: dict[int, Event] = {}
        closes: dict[int, Event] = {}
        for e in inside:
            if e.kind == OPEN:
                opens[e.elem] = e
            elif e.kind == CLOSE:
                closes[e.elem] = e
        pieces: list[tuple[int, Mark]] = []
        for elem in {*opens, *closes}:
            o, c = opens.get(elem), closes.get(elem)
            if (o is None or not o.raw) and (c is None or not c.raw):
                continue  # no markup of this element inside the unit
            pieces.append(
                (
                    elem,
                    Mark(
                        o.raw if o else "",
                        c.raw if c else "",
                        o.at - a if o else 0,
                        c.at - a if c else b - a,
                        o.source_at if o and o.raw else -1,
                        c.source_at if c and c.raw else -1,
                        None,
                    ),
                )
            )
        pieces.sort(key=lambda p: (p[1].start, -p[1].end, self._depth[p[0]]))
        return pieces

    def _nearest(self, elem: int, in_unit: dict[int, int]) -> int | None:
        """The index in the unit's marks of `elem` or its nearest ancestor there."""
        while elem >= 0:
            if elem in in_unit:
                return in_unit[elem]
            elem = self._parent[elem]
        return None


class Scanned:
    """A document's blocks (and HTML attribute values) in source order, before its sentences
    are cut: what a reader reads (`plain_text`) is known here, so the language can be detected
    before the one cut into units, which depends on it (`units`)."""

    def __init__(self, source: str, *, each_own_block: bool = False) -> None:
        self.source = source
        #: Blocks, and attribute units whose `block` is set when cut (the blocks before them).
        self.items: list[Block | Unit] = []
        #: Plain text: every sentence is its own block.
        self.each_own_block = each_own_block

    def block(self, block: Block) -> None:
        self.items.append(block)

    def attribute(self, unit: Unit) -> None:
        self.items.append(unit)

    def plain_text(self) -> str:
        """What a reader reads: each block's text, blocks separated by blank lines (attribute
        values left out)."""
        texts = ("".join(item.parts).strip() for item in self.items if isinstance(item, Block))
        return "\n\n".join(text for text in texts if text)

    def units(self, language: str) -> list[Unit]:
        """The units, sentences cut for `language`, in scan order (indexes not set)."""
        units: list[Unit] = []
        block_no = 0
        for item in self.items:
            if isinstance(item, Unit):
                units.append(replace(item, block=block_no))
                continue
            found = item.cut(self.source, language, block_no, each_own_block=self.each_own_block)
            if found:
                units.extend(found)
                block_no += len(found) if self.each_own_block else 1
        return units


def needs_model(text: str, protected: list[tuple[int, int]]) -> bool:
    """Whether `text` has a letter outside its protected spans."""
    at = 0
    for s, e in sorted(protected):
        if any(ch.isalpha() for ch in text[at:s]):
            return True
        at = max(at, e)
    return any(ch.isalpha() for ch in text[at:])


def _sentence_ranges(
    text: str, language: str, protected: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """`segment()`'s sentences as ``(start, end)`` ranges, with any two that a protected span
    straddles (pysbd breaks URLs at ``?``) joined with the space between them."""
    ranges: list[tuple[int, int]] = []
    at = 0
    for piece in segment(text, language):
        if piece.translate:
            ranges.append((at, at + len(piece.text)))
        at += len(piece.text)
    if not protected or len(ranges) < 2:
        return ranges
    merged = [ranges[0]]
    starts = [s for s, _ in protected]
    for a, b in ranges[1:]:
        # A span that starts before this range and ends inside it straddles the break.
        i = bisect.bisect_left(starts, a) - 1
        if i >= 0 and protected[i][1] > a:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged
