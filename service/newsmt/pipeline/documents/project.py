"""Putting a unit's markup back around its translation.

With an alignment, each mark's source span is projected: the output tokens aligned into it,
their union, snapped to whole words (whitespace stays outside tags); a child is kept inside its
parent, and siblings may change order but never overlap. A void goes after the output word
aligned to the source word before it. When the alignment is missing or inconsistent (a mark
nothing is aligned into, siblings that would cross), every tag keeps its source order and goes
to the word boundary nearest its relative position: nesting is exactly the source's, nothing is
dropped, and the unit is reported degraded.

Protected spans are placed by finding their text in the output: each occurrence is emitted as
written in the source (entities, escapes, an inline ``<code>`` element with its tags). An inline
opaque element (an *atom*) carries tags, so it must also stay inside the same mark as in the
source: where its occurrence breaks the nesting, the unit falls back. An atom whose text the
translation lost is inserted at its relative position, so that no tag is ever dropped.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from newsmt.pipeline.documents import align, protect
from newsmt.pipeline.documents.model import Protected, TokenLink, Unit

#: Escape an output text run for the format; the flag says the run starts the unit's output.
Escape = Callable[[str, bool], str]
#: The markup at a source offset, as it is to be emitted (attribute values substituted).
MarkupOf = Callable[[str, int], str]

_SNAP = re.compile(r"(\w+)|[^\w\s]")
_WORD = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class _Occurrence:
    start: int
    end: int
    span: Protected


@dataclass(slots=True)
class _Node:
    start: int
    end: int
    open: str
    close: str
    order: int
    point: bool
    children: list[_Node] = field(default_factory=list)
    #: A mark whose opening tag lies before the unit (it is written ahead of the unit's text).
    open_before: bool = False
    #: A mark whose closing tag lies after the unit (it is written after the unit's text).
    closes_after: bool = False


class _Text:
    """The output text with its protected occurrences and the word units tags snap to."""

    def __init__(self, out: str, occurrences: list[_Occurrence]) -> None:
        self.out = out
        self.occurrences = occurrences
        # (start, end, is a word): runs of word characters, single other characters, and
        # each protected occurrence as one unit.
        units = [(m.start(), m.end(), m.lastindex == 1) for m in _SNAP.finditer(out)]
        if occurrences:
            units = [
                u for u in units if not any(u[0] < o.end and o.start < u[1] for o in occurrences)
            ]
            # Text taken out of the output (markup "") is no word to put a tag on.
            units.extend((o.start, o.end, o.span.markup != "") for o in occurrences)
            units.sort()
        self.starts = [u[0] for u in units]
        self.ends = [u[1] for u in units]
        # Fallback placement prefers words to punctuation: "(1)<b>." is worse than "(1). <b>".
        words = [u for u in units if u[2]] or units
        self.word_starts = [u[0] for u in words]
        self.word_ends = [u[1] for u in words]
        self.word_start_set = set(self.word_starts)

    def snap_start(self, x: int) -> int:
        """The start of the word unit containing `x`, or of the next one."""
        i = bisect.bisect_right(self.ends, x)
        return self.starts[i] if i < len(self.starts) else len(self.out)

    def snap_end(self, y: int) -> int:
        """The end of the word unit containing ``y - 1``, or of the one before."""
        i = bisect.bisect_left(self.starts, y) - 1
        return self.ends[i] if i >= 0 else 0

    def trim(self, a: int, b: int, src: str, s: int, e: int) -> tuple[int, int]:
        """Drop punctuation at the edges of ``out[a:b]`` where the source span ``src[s:e]``
        starts or ends with a word character (a tag on "chart" in "chart." stays off the dot)."""
        words = set(zip(self.word_starts, self.word_ends, strict=True))
        if _WORD.match(src[e - 1]):
            i = bisect.bisect_left(self.ends, b)
            while i > 0 and i < len(self.ends) and self.ends[i] == b and self.starts[i] > a:
                if (self.starts[i], self.ends[i]) in words:
                    break
                b = self.ends[i - 1]
                i -= 1
        if _WORD.match(src[s]):
            i = bisect.bisect_left(self.starts, a)
            while i + 1 < len(self.starts) and self.starts[i] == a and self.ends[i] < b:
                if (self.starts[i], self.ends[i]) in words:
                    break
                a = self.starts[i + 1]
                i += 1
        return a, b

    def nearest(self, q: int, *, opening: bool) -> int:
        """The word boundary nearest `q`: a word start for an opening tag, else a word end."""
        edges = self.word_starts if opening else self.word_ends
        if not edges:
            return 0
        i = bisect.bisect_left(edges, q)
        best = [edges[j] for j in (i - 1, i) if 0 <= j < len(edges)]
        return min(best, key=lambda e: (abs(e - q), e))


def occurrences(unit: Unit, out: str) -> tuple[list[_Occurrence], list[Protected]]:
    """Where each protected span's text is in `out` (the k-th span with a given text takes its
    k-th free occurrence, not glued to a word; longer texts claim first), and the atoms whose
    text is missing."""
    found: list[_Occurrence] = []
    missing: list[Protected] = []
    taken: list[tuple[int, int]] = []
    cursors: dict[str, int] = {}
    for p in sorted(unit.protected, key=lambda p: (-(p.end - p.start), p.start)):
        text = unit.text[p.start : p.end]
        at = next(
            (
                x
                for x in protect.find_all(out, text, glued=protect.glued(unit.text, p.start, p.end))
                if x >= cursors.get(text, 0)
                and not any(x < e and s < x + len(text) for s, e in taken)
            ),
            -1,
        )
        if at < 0:
            if p.kind == "code":
                missing.append(p)
            continue
        cursors[text] = at + len(text)
        taken.append((at, at + len(text)))
        found.append(_Occurrence(at, at + len(text), p))
    found.sort(key=lambda o: o.start)
    return found, missing


def render_unit(
    unit: Unit,
    out: str,
    alignment: Sequence[TokenLink] | None,
    *,
    escape: Escape,
    markup_of: MarkupOf,
) -> tuple[str, bool]:
    """The unit's translation `out` with its markup put back, and whether the markup had to be
    placed by fallback."""
    found, missing = occurrences(unit, out)
    text = _Text(out, found)
    if not unit.marks and not unit.voids and not missing:
        return _emit_text(text, 0, len(out), escape), False
    links = tuple(alignment) if alignment is not None else None
    if links is not None and align.is_valid(links, len(out), len(unit.text)) and not missing:
        root = _place(unit, text, links, markup_of)
        if root is not None:
            parts: list[str] = []
            _emit(root, text, escape, parts)
            return "".join(parts), False
    return _fallback(unit, out, found, missing, escape, markup_of), True


def _place(
    unit: Unit, text: _Text, links: tuple[TokenLink, ...], markup_of: MarkupOf
) -> _Node | None:
    """The tree of placed markup, or None when the alignment cannot place it."""
    src, out = unit.text, text.out
    root = _Node(0, len(out), "", "", -1, False)
    nodes: list[_Node] = []
    for m in unit.marks:
        s, e = _trim(src, m.start, m.end)
        order = m.open_at if m.open_at >= 0 else -1
        opening = markup_of(m.open, m.open_at) if m.open else ""
        closing = markup_of(m.close, m.close_at) if m.close else ""
        if s >= e:  # a mark around no text: a point, like a void
            q = _point(src, text, links, m.start)
            if q is None:
                return None
            nodes.append(_Node(q, q, opening, closing, order, True))
            continue
        hull = align.hull(links, src, out, s, e)
        if hull is None:
            return None
        a, b = text.trim(text.snap_start(hull[0]), text.snap_end(hull[1]), src, s, e)
        before, after = not m.open and m.start == 0, not m.close and m.end == len(src)
        if before:
            a = text.snap_start(0)
        if after:
            b = text.snap_end(len(out))
        if a >= b:
            return None
        nodes.append(_Node(a, b, opening, closing, order, False, [], before, after))
    for i, m in enumerate(unit.marks):
        node = nodes[i]
        parent = root if m.parent is None else nodes[m.parent]
        if parent.point:
            node.start = node.end = parent.start
        else:
            node.start, node.end = max(node.start, parent.start), min(node.end, parent.end)
            if not node.point and node.start >= node.end:
                return None
        parent.children.append(node)
    for v in unit.voids:
        q = _point(src, text, links, v.at)
        if q is None:
            return None
        parent = root if v.parent is None else nodes[v.parent]
        parent.children.append(_Node(q, q, markup_of(v.markup, v.source_at), "", v.source_at, True))
    if not _settle(root):
        return None
    for o in text.occurrences:  # an atom's tags stay inside the same mark as in the source
        if o.span.kind == "code":
            parent = root if o.span.parent is None else nodes[o.span.parent]
            if parent.point or not (parent.start <= o.start and o.end <= parent.end):
                return None
            if any(not c.point and c.start < o.end and o.start < c.end for c in parent.children):
                return None
    return root


def _settle(node: _Node) -> bool:
    """Keep points inside their parent and out of their siblings; False if siblings cross."""
    ranges = sorted((c for c in node.children if not c.point), key=lambda c: c.start)
    for left, right in itertools.pairwise(ranges):
        if left.end > right.start:
            return False
    for child in node.children:
        if child.point:
            q = min(max(child.start, node.start), node.end)
            for r in ranges:
                if r.start < q < r.end:
                    q = r.end
                # A sibling whose tag lies outside the unit reaches the unit's edge, and that
                # tag is written beyond everything the unit holds: a point at the edge would
                # land inside it (`![label</b>](dest)`). Such a point goes to its other side.
                if r.closes_after and not r.open_before and q >= r.start:
                    q = r.start
                elif r.open_before and not r.closes_after and q <= r.end:
                    q = r.end
            _pin(child, q)
    node.children.sort(key=lambda c: (c.start, not c.point, c.order))
    return all(_settle(c) for c in node.children if not c.point)


def _pin(node: _Node, q: int) -> None:
    """Put a point and everything inside it at `q`."""
    node.start = node.end = q
    for child in node.children:
        _pin(child, q)
    node.children.sort(key=lambda c: c.order)


def _point(src: str, text: _Text, links: Sequence[TokenLink], at: int) -> int | None:
    """Where markup at source position `at` goes: after the output word aligned to the source
    character before it, else before the one aligned to the character after it."""
    left = at - 1
    while left >= 0 and src[left].isspace():
        left -= 1
    if left >= 0:
        hull = align.hull(links, src, text.out, left, left + 1)
        if hull is not None:
            return text.snap_end(hull[1])
    right = at
    while right < len(src) and src[right].isspace():
        right += 1
    if right < len(src):
        hull = align.hull(links, src, text.out, right, right + 1)
        if hull is not None:
            return text.snap_start(hull[0])
    return None


def _trim(src: str, s: int, e: int) -> tuple[int, int]:
    while s < e and src[s].isspace():
        s += 1
    while e > s and src[e - 1].isspace():
        e -= 1
    return s, e


def _emit(node: _Node, text: _Text, escape: Escape, parts: list[str]) -> None:
    parts.append(node.open)
    at = node.start
    for child in node.children:
        if child.start > at:
            parts.append(_emit_text(text, at, child.start, escape))
            at = child.start
        if child.point:
            parts.append(child.open)
            for grandchild in child.children:
                _emit(grandchild, text, escape, parts)
            parts.append(child.close)
        else:
            _emit(child, text, escape, parts)
            at = max(at, child.end)
    if node.end > at:
        parts.append(_emit_text(text, at, node.end, escape))
    parts.append(node.close)


def _emit_text(text: _Text, x: int, y: int, escape: Escape) -> str:
    """``out[x:y]``, escaped, with protected occurrences as written in the source."""
    parts: list[str] = []
    at = x
    for o in text.occurrences:
        if o.start < at or o.end > y:
            continue
        markup = o.span.markup
        before = o.start
        if (
            markup == ""
            and o.end == len(text.out)
            and before > at
            and text.out[before - 1].isspace()
        ):
            before -= 1  # text taken out at the very end: with the space before it
        if before > at:
            parts.append(escape(text.out[at:before], at == 0))
        parts.append(
            markup if markup is not None else escape(text.out[o.start : o.end], o.start == 0)
        )
        at = o.end
        if (
            markup == ""
            and at < y
            and text.out[at].isspace()
            and (o.start == 0 or text.out[o.start - 1].isspace())
        ):
            at += 1  # text taken out (an atom the fallback moved): with one of its spaces
    if y > at:
        parts.append(escape(text.out[at:y], at == 0))
    return "".join(parts)


def _fallback(
    unit: Unit,
    out: str,
    found: list[_Occurrence],
    missing: list[Protected],
    escape: Escape,
    markup_of: MarkupOf,
) -> str:
    """Every tag in source order at the word boundary its source word maps to.

    An atom found where source order puts it (after the tags before it in the source, before
    those after it) stays there as an anchor. One found elsewhere would force the tags around
    it onto no words: its text is taken out of the output and the atom goes, like a lost one,
    where its source word maps to."""
    n = len(out)
    tags = _tag_events(unit, markup_of)
    text = _Text(out, found)
    place = _word_map(unit, text)
    free = _positions(tags, text, place, [n] * len(tags), [])
    orders = [t.order for t in tags]
    anchors: list[_Occurrence] = []
    hidden: list[_Occurrence] = []
    events = list(tags)
    for o in sorted((o for o in found if o.span.kind == "code"), key=lambda o: o.span.source_at):
        k = bisect.bisect_left(orders, o.span.source_at)
        before, after = max(free[:k], default=0), min(free[k:], default=n)
        if before <= o.start and o.end <= after and (not anchors or anchors[-1].end <= o.start):
            events.append(
                _Event(
                    o.span.source_at,
                    o.span.start,
                    False,
                    o.span.markup or "",
                    _Kind.ANCHOR,
                    len(anchors),
                )
            )
            anchors.append(o)
        else:
            hidden.append(_Occurrence(o.start, o.end, replace(o.span, markup="")))
            missing = [*missing, o.span]
    for p in missing:
        events.append(_Event(p.source_at, p.start, False, p.markup or "", _Kind.LOST, -1))
    events.sort(key=lambda t: t.order)
    if hidden:
        kept = [o for o in found if o.span.kind != "code" or o in anchors]
        text = _Text(out, sorted(kept + hidden, key=lambda o: o.start))
        place = _word_map(unit, text)
    # Each event stays between the anchors around it in the source.
    upper = [n] * len(events)
    bound = n
    for k in range(len(events) - 1, -1, -1):
        if events[k].kind is _Kind.ANCHOR:
            bound = anchors[events[k].index].start
        upper[k] = bound
    parts: list[str] = []
    positions = _positions(events, text, place, upper, anchors)
    at = 0
    for event, q in zip(events, positions, strict=True):
        if event.kind is _Kind.ANCHOR:
            anchor = anchors[event.index]
            parts.append(_emit_text(text, at, anchor.start, escape))
            parts.append(event.markup)
            at = anchor.end
            continue
        if q > at:
            parts.append(_emit_text(text, at, q, escape))
            at = q
        if event.kind is _Kind.LOST:  # a lost inline element comes back as a word of its own
            before_space = " " if q > 0 and not out[q - 1].isspace() else ""
            after_space = " " if q < n and not out[q].isspace() else ""
            parts.append(before_space + event.markup + after_space)
        else:
            parts.append(event.markup)
    if n > at:
        parts.append(_emit_text(text, at, n, escape))
    return "".join(parts)


def _tag_events(unit: Unit, markup_of: MarkupOf) -> list[_Event]:
    """The unit's tags (mark opens and closes, voids) in source order."""
    tags: list[_Event] = []
    for i, m in enumerate(unit.marks):
        s, e = _trim(unit.text, m.start, m.end)
        has_text = i if s < e else -1
        if m.open:
            opening = markup_of(m.open, m.open_at)
            tags.append(_Event(m.open_at, m.start, True, opening, _Kind.TAG, has_text))
        if m.close:
            closing = markup_of(m.close, m.close_at)
            tags.append(_Event(m.close_at, m.end, False, closing, _Kind.TAG, has_text))
    for v in unit.voids:
        markup = markup_of(v.markup, v.source_at)
        tags.append(_Event(v.source_at, v.at, False, markup, _Kind.TAG, -1))
    tags.sort(key=lambda t: t.order)
    return tags


class _Kind(enum.Enum):
    """What a fallback event places."""

    TAG = "tag"
    #: An atom whose text the output lost (or that had to move): inserted as a word.
    LOST = "lost"
    #: An atom found where source order puts it: it stays, and the tags keep to its sides.
    ANCHOR = "anchor"


@dataclass(frozen=True, slots=True)
class _Event:
    """A tag, lost atom or anchor of the fallback placement."""

    #: Source offset: events are emitted in this order.
    order: int
    #: Position in the unit's text.
    position: int
    opening: bool
    markup: str
    kind: _Kind
    #: For a tag: the index of its mark if it has text (else -1); for an anchor: its index.
    index: int


def _word_map(unit: Unit, text: _Text) -> Callable[[int, bool], int]:
    """Source word i goes to output word i * |output words| // |source words|: monotone, and
    a tag before (after) a source word goes before (after) the output word it maps to.
    Protected spans count as one word on both sides."""
    source = _Text(unit.text, [_Occurrence(p.start, p.end, p) for p in unit.protected])
    starts, ends = source.word_starts, source.word_ends
    out_starts, out_ends = text.word_starts, text.word_ends
    n, size = len(text.out), max(1, len(unit.text))

    def place(position: int, opening: bool) -> int:
        if not starts or not out_starts:
            return text.nearest(round(position * n / size), opening=opening)
        if opening:
            i = bisect.bisect_left(starts, position)
            return out_starts[i * len(out_starts) // len(starts)] if i < len(starts) else n
        i = bisect.bisect_right(ends, position) - 1
        return out_ends[i * len(out_ends) // len(ends)] if i >= 0 else 0

    return place


def _positions(
    events: list[_Event],
    text: _Text,
    place: Callable[[int, bool], int],
    upper: list[int],
    anchors: list[_Occurrence],
) -> list[int]:
    """Output positions for `events`, in order: never decreasing, each at most its bound."""
    positions: list[int] = []
    at = 0
    opened: dict[int, int] = {}
    for event, bound in zip(events, upper, strict=True):
        if event.kind is _Kind.ANCHOR:
            at = anchors[event.index].end
            positions.append(anchors[event.index].start)
            continue
        q = place(event.position, event.opening)
        if event.index >= 0 and not event.opening and event.index in opened:
            # A mark around text keeps at least one word.
            q = max(q, text.snap_end(text.snap_start(opened[event.index]) + 1))
        q = max(min(q, bound), at)
        if event.opening and q not in text.word_start_set:
            # Never glue an opening tag to what was just emitted ("*a**b*" reads as strong).
            i = bisect.bisect_left(text.word_starts, q)
            if i < len(text.word_starts) and text.word_starts[i] <= bound:
                q = text.word_starts[i]
        if event.index >= 0 and event.opening:
            opened[event.index] = q
        positions.append(q)
        at = q
    return positions
