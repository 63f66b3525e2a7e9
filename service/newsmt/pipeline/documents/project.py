"""Putting a unit's markup back around its translation.

With an alignment, each mark's source span is projected: the output tokens aligned into it,
their union, snapped to whole words (whitespace stays outside tags); a child is kept inside its
parent, and siblings may change order but never overlap. A void goes after the output word
aligned to the source word before it. When the alignment is missing or inconsistent (a mark
nothing is aligned into, siblings that would cross), every tag keeps its source order and goes
to the word boundary nearest its relative position: nesting is exactly the source's, nothing is
dropped, and the unit is reported degraded.

Protected spans are placed by finding their text in the output: each occurrence is emitted as
written in the source (entities, escapes, an inline ``<code>`` element with its tags). An
inline opaque element whose text the translation lost is inserted at its relative position, so
that no tag is ever dropped.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from newsmt.pipeline.documents import align, protect
from newsmt.pipeline.documents.model import Protected, TokenLink, Unit

#: Escape an output text run for the format; the flag says the run starts the unit's output.
Escape = Callable[[str, bool], str]
#: The markup at a source offset, as it is to be emitted (attribute values substituted).
MarkupOf = Callable[[str, int], str]

_SNAP = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w")


@dataclass(slots=True)
class _Node:
    start: int
    end: int
    open: str
    close: str
    order: int
    point: bool
    children: list[_Node] = field(default_factory=list)


class _Text:
    """The output text with its protected occurrences and the word units tags snap to."""

    def __init__(self, out: str, occurrences: list[tuple[int, int, str | None]]) -> None:
        self.out = out
        self.occurrences = occurrences
        units = [
            (m.start(), m.end())
            for m in _SNAP.finditer(out)
            if not any(m.start() < e and s < m.end() for s, e, _ in occurrences)
        ]
        units.extend((s, e) for s, e, _ in occurrences)
        units.sort()
        self.starts = [s for s, _ in units]
        self.ends = [e for _, e in units]
        # Fallback placement prefers words to punctuation: "(1)<b>." is worse than "(1). <b>".
        words = [(s, e) for s, e in units if _WORD.search(out, s, e)] or units
        self.word_starts = [s for s, _ in words]
        self.word_ends = [e for _, e in words]

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


def occurrences(unit: Unit, out: str) -> tuple[list[tuple[int, int, str | None]], list[Protected]]:
    """Where each protected span's text is in `out` (the k-th span with a given text takes its
    k-th free occurrence; longer texts claim first), and the atoms whose text is missing."""
    found: list[tuple[int, int, str | None]] = []
    missing: list[Protected] = []
    taken: list[tuple[int, int]] = []
    cursors: dict[str, int] = {}
    spans = sorted(unit.protected, key=lambda p: (-(p.end - p.start), p.start))
    for p in spans:
        text = unit.text[p.start : p.end]
        at = next(
            (
                x
                for x in protect.find_all(out, text)
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
        found.append((at, at + len(text), p.markup))
    found.sort()
    missing.sort(key=lambda p: p.start)
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
    return _fallback(unit, text, missing, escape, markup_of), True


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
        if not m.open and m.start == 0:
            a = text.snap_start(0)
        if not m.close and m.end == len(src):
            b = text.snap_end(len(out))
        if a >= b:
            return None
        nodes.append(_Node(a, b, opening, closing, order, False))
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
    return root if _settle(root) else None


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
    for s, e, markup in text.occurrences:
        if s < at or e > y:
            continue
        if s > at:
            parts.append(escape(text.out[at:s], at == 0))
        parts.append(markup if markup is not None else escape(text.out[s:e], s == 0))
        at = e
    if y > at:
        parts.append(escape(text.out[at:y], at == 0))
    return "".join(parts)


def _fallback(
    unit: Unit, text: _Text, missing: list[Protected], escape: Escape, markup_of: MarkupOf
) -> str:
    """Every tag in source order at the word boundary nearest its relative position."""
    # (source order, text position, opening tag, markup, is a lost atom, mark with text)
    events: list[tuple[int, int, bool, str, bool, int]] = []
    for i, m in enumerate(unit.marks):
        s, e = _trim(unit.text, m.start, m.end)
        has_text = i if s < e else -1
        if m.open:
            events.append((m.open_at, m.start, True, markup_of(m.open, m.open_at), False, has_text))
        if m.close:
            events.append(
                (m.close_at, m.end, False, markup_of(m.close, m.close_at), False, has_text)
            )
    for v in unit.voids:
        events.append((v.source_at, v.at, False, markup_of(v.markup, v.source_at), False, -1))
    for p in missing:
        events.append((p.source_at, p.start, False, p.markup or "", True, -1))
    events.sort(key=lambda e: e[0])
    out = text.out
    n, size = len(out), max(1, len(unit.text))
    parts: list[str] = []
    at = 0
    opened: dict[int, int] = {}
    for _, position, opening, markup, atom, mark in events:
        q = text.nearest(round(position * n / size), opening=opening)
        q = max(q, at)
        if mark >= 0 and opening:
            opened[mark] = q
        elif mark in opened:  # a mark around text keeps at least one word
            q = max(q, text.snap_end(text.snap_start(opened[mark]) + 1))
        if q > at:
            parts.append(_emit_text(text, at, q, escape))
            at = q
        if atom:  # a lost inline element comes back as a word of its own
            before = " " if q > 0 and not out[q - 1].isspace() else ""
            after = " " if q < n and not out[q].isspace() else ""
            parts.append(before + markup + after)
        else:
            parts.append(markup)
    if n > at:
        parts.append(_emit_text(text, at, n, escape))
    return "".join(parts)
