"""Paragraphs of Office Open XML parts (WordprocessingML, DrawingML text, SpreadsheetML
strings) as blocks of the document model, and their re-emission around translations.

A paragraph (``w:p``, ``a:p``, a shared string ``si``) is a block; its text is the content of
its text elements (``w:t``, ``a:t``, ``t``), so a sentence Word split into runs reaches the
model whole. The markup inside the paragraph becomes inline tags placed by alignment:

- a run (``w:r`` with its ``w:rPr``; ``a:r``; ``r``) is a mark whose opening markup is the run's
  start tag and properties, and each text element inside it is a mark nested in it;
- paragraph-level containers (``w:hyperlink``, ``w:ins``, ``w:smartTag``, ``w:sdt``...) are
  marks around their runs;
- tabs and breaks are voids that read as a space; every other element (a field instruction, a
  tracked deletion, a bookmark, a drawing, a run with no text) is a void copied byte for byte
  and never translated;
- an element that holds paragraphs of its own (a text box inside a run) ends the block: its
  paragraphs are blocks of their own, and the text after it is a new block of the paragraph.

Re-emission (`PartWriter`) copies every byte outside translated units as it is. A translated
unit is its translation with the markup placed by `project`; OOXML wants every character inside
a text element inside a run, so an emitter walks the placed markup and keeps that true: text
the placement leaves between runs goes into the run just closed (its close is held back until
other markup comes) or into the next text element; only where neither exists is a run made,
with the properties of the nearest run. Translated runs get the target language in their
``w:lang``/``lang`` and ``xml:space="preserve"`` on their text elements.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from newsmt.pipeline.documents import project
from newsmt.pipeline.documents.blocks import Block
from newsmt.pipeline.documents.files import xml
from newsmt.pipeline.documents.files.xml import END, START, TEXT, XmlPart
from newsmt.pipeline.documents.model import Document, Unit, UnitOutput

PARA, CONT, RUN, T = 0, 1, 2, 3
OPEN, CLOSE, RUN_VOID, PARA_VOID = 0, 1, 2, 3

_SENTINEL = re.compile("\x01(\\d+)\x02")


@dataclass(frozen=True)
class Dialect:
    """The names of one OOXML vocabulary, all in namespace `ns`."""

    ns: str
    paragraphs: frozenset[str]
    containers: frozenset[str] = frozenset()
    #: Voids that read as a space (a tab, a line break).
    spaces: frozenset[str] = frozenset()
    run: str = "r"
    text: str = "t"
    run_props: str = "rPr"
    #: A text element may stand directly in a paragraph (a plain shared string).
    bare_text: bool = False
    #: Where a run says its language: an element of the run's properties (the properties
    #: element itself when it is `run_props`), its attribute's local name, and whether the
    #: attribute is written with the element's prefix (``w:val``) or bare (``lang``).
    lang: tuple[str, str, bool] | None = None
    #: Text elements need ``xml:space="preserve"`` to keep leading and trailing spaces.
    preserve: bool = True

    def name(self, local: str) -> str:
        return f"{self.ns} {local}"


@dataclass(slots=True)
class Markup:
    kind: int
    role: int
    #: START token of the element the markup belongs to (OPEN, CLOSE).
    elem: int
    start: int
    end: int
    #: A void that reads as a space (a tab, a break): the model's space stands for it.
    space: bool = False


@dataclass
class Paragraphs:
    """One XML part read into blocks, with what its writer needs."""

    part: XmlPart
    dialect: Dialect
    blocks: list[Block] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    #: Markup by the source offset at which it starts.
    markup: dict[int, Markup] = field(default_factory=dict)
    #: Role of each element that is a mark (by START token).
    roles: dict[int, int] = field(default_factory=dict)
    #: The source offsets at which text runs start, and the elements open there (paragraph
    #: down, by START token).
    context_at: list[int] = field(default_factory=list)
    contexts: list[tuple[int, ...]] = field(default_factory=list)
    #: Per run (START token): where its opening markup ends, and its language token.
    heads: dict[int, int] = field(default_factory=dict)
    langs: dict[int, int] = field(default_factory=dict)
    #: Per run: the first and last character of its text.
    edges: dict[int, tuple[str, str]] = field(default_factory=dict)

    def context(self, source_at: int) -> tuple[int, ...]:
        """The elements open (paragraph down) at the text character at `source_at`."""
        return self.contexts[bisect.bisect_right(self.context_at, source_at) - 1]


def scan(part: XmlPart, dialect: Dialect, label: Callable[[int], str]) -> Paragraphs:
    """The paragraphs of `part`; `label(i)` names the paragraph whose START token is `i`."""
    return _Scanner(part, dialect, label).run()


@dataclass(slots=True)
class _Para:
    label: str
    end: int
    #: END token of an element holding paragraphs, inside which this paragraph is paused.
    resume: int = -1
    #: Open marks: (START token, role, the block's element id).
    frames: list[tuple[int, int, int]] = field(default_factory=list)


class _Scanner:
    def __init__(self, part: XmlPart, dialect: Dialect, label: Callable[[int], str]) -> None:
        self.part = part
        self.tokens = part.tokens
        self.d = dialect
        self.label = label
        self.out = Paragraphs(part, dialect)
        self.holds, self.has_text = _structure(part.tokens, dialect)
        self.paras: list[_Para] = []
        self.block: Block | None = None

    def run(self) -> Paragraphs:
        tokens = self.tokens
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if t.kind == START and local_in(t.name, self.d, self.d.paragraphs):
                self._flush(t.start)
                self.paras.append(_Para(self.label(i), t.pair))
                self._new_block()
                i += 1
            elif t.kind == END and self.paras and i == self.paras[-1].end:
                self._flush(t.start)
                self.paras.pop()
                i += 1
            elif t.kind == END and self.paras and i == self.paras[-1].resume:
                self.paras[-1].resume = -1
                self._new_block()
                i += 1
            elif self.block is None:
                i += 1
            elif t.kind == START and i in self.holds:
                self._flush(t.start)
                self.paras[-1].resume = t.pair
                i += 1
            elif t.kind == START:
                i = self._start(i)
            elif t.kind == END:
                i = self._end(i)
            elif t.kind == TEXT and self._top_role() == T:
                self._text(i)
                i += 1
            else:  # text outside a text element: only whitespace is valid, never translated
                i = self._void(i, i, PARA_VOID if self._top_role() != RUN else RUN_VOID)
        self._flush(len(self.part.source))
        return self.out

    # -- blocks --------------------------------------------------------------------------

    def _new_block(self) -> None:
        self.block = Block()
        self.out.blocks.append(self.block)
        self.out.labels.append(self.paras[-1].label)

    def _flush(self, at: int) -> None:
        if self.block is not None:
            self.block.close_all(at)
            self.block = None
            if self.paras:
                self.paras[-1].frames.clear()

    def _top_role(self) -> int:
        frames = self.paras[-1].frames
        return frames[-1][1] if frames else PARA

    # -- tokens ----------------------------------------------------------------------------

    def _extent(self, k: int) -> tuple[int, int]:
        """From token `k` on, skip whitespace text (insignificant between elements): the
        offset where the markup ends and the index of the next token."""
        tokens = self.tokens
        while k < len(tokens) and tokens[k].kind == TEXT and not tokens[k].text.strip():
            k += 1
        end = tokens[k].start if k < len(tokens) else len(self.part.source)
        return end, k

    def _start(self, i: int) -> int:
        t, d = self.tokens[i], self.d
        top = self._top_role()
        name = t.name
        empty = t.pair == i + 1 and self.tokens[t.pair].start == self.tokens[t.pair].end
        if local_in(name, d, d.spaces) and top != T:
            nxt = self._void(i, t.pair, RUN_VOID if top == RUN else PARA_VOID)
            self.out.markup[t.start].space = True
            assert self.block is not None
            self.block.space(t.start, self.tokens[t.pair].end)
            return nxt
        if top == T or empty:
            return self._void(i, t.pair, RUN_VOID if top in (RUN, T) else PARA_VOID)
        if name == d.name(d.run) and top in (PARA, CONT):
            if i not in self.has_text:
                return self._void(i, t.pair, PARA_VOID)
            return self._open_run(i)
        if name == d.name(d.text) and (top == RUN or (d.bare_text and top == PARA)):
            self._open(i, T, t.end, i + 1)
            return i + 1
        if local_in(name, d, d.containers) and top in (PARA, CONT):
            end, nxt = self._extent(i + 1)
            self._open(i, CONT, end, nxt)
            return nxt
        return self._void(i, t.pair, RUN_VOID if top == RUN else PARA_VOID)

    def _open_run(self, i: int) -> int:
        """A run: its opening markup runs over its properties element."""
        d, tokens = self.d, self.tokens
        end, k = self._extent(i + 1)
        lang = -1
        if k < len(tokens) and tokens[k].kind == START and tokens[k].name == d.name(d.run_props):
            props = k
            lang = self._lang(props)
            end, k = self._extent(tokens[props].pair + 1)
        self.out.heads[i] = end
        if lang >= 0:
            self.out.langs[i] = lang
        self._open(i, RUN, end, k)
        return k

    def _lang(self, props: int) -> int:
        """The token in a run's properties that carries its language, or -1."""
        if self.d.lang is None:
            return -1
        wanted = self.d.name(self.d.lang[0])
        tokens = self.tokens
        if tokens[props].name == wanted:
            return props
        for k in range(props + 1, tokens[props].pair):
            if tokens[k].kind == START and tokens[k].name == wanted:
                return k
        return -1

    def _open(self, i: int, role: int, end: int, nxt: int) -> None:
        assert self.block is not None
        t = self.tokens[i]
        elem = self.block.open(self.part.source[t.start : end], t.start)
        self.paras[-1].frames.append((i, role, elem))
        self.out.markup[t.start] = Markup(OPEN, role, i, t.start, end)
        self.out.roles[i] = role

    def _end(self, i: int) -> int:
        assert self.block is not None
        t = self.tokens[i]
        frames = self.paras[-1].frames
        if not frames or frames[-1][0] != t.pair:  # never for well-formed parts
            return self._void(i, i, PARA_VOID)
        opened, role, elem = frames.pop()
        end, nxt = self._extent(i + 1)
        if elem in self.block.stack:
            self.block.close(self.block.stack.index(elem), self.part.source[t.start : end], t.start)
        else:
            self.block.void(self.part.source[t.start : end], t.start)
        self.out.markup[t.start] = Markup(CLOSE, role, opened, t.start, end)
        return nxt

    def _void(self, i: int, last: int, kind: int) -> int:
        """Tokens `i`..`last` (and the whitespace after them) as one void."""
        assert self.block is not None
        start = self.tokens[i].start
        end, nxt = self._extent(last + 1)
        self.block.void(self.part.source[start:end], start)
        self.out.markup[start] = Markup(kind, PARA, -1, start, end)
        return nxt

    def _text(self, i: int) -> None:
        assert self.block is not None
        t = self.tokens[i]
        at = self.block.length
        raw = self.part.source[t.start : t.end]
        if t.text == raw:
            self.block.text(t.text, t.start)
        else:
            self.block.atomic(t.text, t.start, t.end)
        if self.block.length > at:
            frames = self.paras[-1].frames
            self.out.context_at.append(t.start)
            self.out.contexts.append(tuple(f[0] for f in frames))
            run = next((f[0] for f in reversed(frames) if f[1] == RUN), -1)
            if run >= 0:
                first = self.out.edges.get(run, (t.text[0], ""))[0]
                self.out.edges[run] = (first, t.text[-1])


def local_in(name: str, d: Dialect, names: frozenset[str]) -> bool:
    ns, _, local = name.rpartition(" ")
    return ns == d.ns and local in names


def _structure(tokens: Sequence[xml.Token], d: Dialect) -> tuple[set[int], set[int]]:
    """Elements that hold a paragraph (strictly inside them), and runs with text."""
    holds: set[int] = set()
    has_text: set[int] = set()
    stack: list[int] = []
    text_name = d.name(d.text)
    for k, t in enumerate(tokens):
        if t.kind == START:
            if local_in(t.name, d, d.paragraphs):
                for opened in reversed(stack):
                    if opened in holds:
                        break
                    holds.add(opened)
            stack.append(k)
        elif t.kind == END:
            stack.pop()
        elif t.kind == TEXT and t.text and len(stack) >= 2:
            element = tokens[stack[-1]]
            if element.name == text_name:
                has_text.add(stack[-2])
    return holds, has_text


# -- writing --------------------------------------------------------------------------------


@dataclass
class Written:
    text: str
    #: Units whose markup was placed by the fallback.
    degraded: tuple[int, ...]


def write(
    paras: Paragraphs, doc: Document, outputs: Sequence[UnitOutput | None], language: str
) -> Written | None:
    """The part with each unit's output, or None when no unit changed (copy the part)."""
    changed = [
        u
        for u in doc.units
        if outputs[u.index] is not None and outputs[u.index][0] != u.text  # type: ignore[index]
    ]
    if not changed:
        return None
    writer = _PartWriter(paras, language)
    for unit in changed:
        writer.touch(unit)
    source = paras.part.source
    parts: list[str] = []
    degraded: list[int] = []
    at = 0
    changed_indexes = {u.index for u in changed}
    for unit in doc.units:
        parts.append(writer.copy(at, unit.source_start))
        if unit.index in changed_indexes:
            output = outputs[unit.index]
            assert output is not None
            text, placed_by_fallback = writer.unit(unit, output)
            parts.append(text)
            if placed_by_fallback:
                degraded.append(unit.index)
        else:
            parts.append(writer.copy(unit.source_start, unit.source_end))
        at = unit.source_end
    parts.append(writer.copy(at, len(source)))
    return Written("".join(parts), tuple(degraded))


class _PartWriter:
    def __init__(self, paras: Paragraphs, language: str) -> None:
        self.paras = paras
        self.language = language
        #: Rewritten start tags: source offset -> (end offset, new markup).
        self.rewrites: dict[int, tuple[int, str]] = {}
        self._starts: list[int] | None = None

    # -- rewrites of translated runs -------------------------------------------------------

    def touch(self, unit: Unit) -> None:
        """Mark the runs and text elements `unit` touches: target language, kept spaces."""
        p = self.paras
        start, end = self._contexts(unit)
        elements = {*start, *end}
        for m in unit.marks:
            if m.open_at >= 0 and m.open_at in p.markup:
                elements.add(p.markup[m.open_at].elem)
        for e in elements:
            role = p.roles.get(e)
            if role == RUN and e in p.langs:
                self._set_lang(p.langs[e])
            elif role == T and p.dialect.preserve:
                t = p.part.tokens[e]
                tag = p.part.source[t.start : t.end]
                self.rewrites[t.start] = (t.end, xml.set_attribute(tag, "xml:space", "preserve"))
        self._starts = None

    def _set_lang(self, k: int) -> None:
        p = self.paras
        assert p.dialect.lang is not None
        t = p.part.tokens[k]
        tag = p.part.source[t.start : t.end]
        _, name, prefixed = p.dialect.lang
        qname = p.part.qname(k)
        attribute = qname.partition(":")[0] + ":" + name if prefixed and ":" in qname else name
        self.rewrites[t.start] = (t.end, xml.set_attribute(tag, attribute, self.language))

    def _contexts(self, unit: Unit) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The elements open at the unit's first character and at its last."""
        p = self.paras
        return p.context(unit.source_start), p.context(unit.source_end - 1)

    def copy(self, a: int, b: int) -> str:
        """``source[a:b]`` with the rewritten start tags in it."""
        source = self.paras.part.source
        if not self.rewrites:
            return source[a:b]
        if self._starts is None:
            self._starts = sorted(self.rewrites)
        starts = self._starts
        i = bisect.bisect_left(starts, a)
        if i >= len(starts) or starts[i] >= b:
            return source[a:b]
        parts: list[str] = []
        at = a
        while i < len(starts) and starts[i] < b:
            start = starts[i]
            end, markup = self.rewrites[start]
            parts.append(source[at:start])
            parts.append(markup)
            at = end
            i += 1
        parts.append(source[at:b])
        return "".join(parts)

    # -- one translated unit ---------------------------------------------------------------

    def unit(self, unit: Unit, output: UnitOutput) -> tuple[str, bool]:
        text, links = output
        placed, degraded = project.render_unit(
            unit,
            text,
            links,
            escape=xml.escape_text,
            markup_of=lambda raw, at: f"\x01{at}\x02",
        )
        start, end = self._contexts(unit)
        emitter = _Emitter(self, start, unit)
        pieces = _SENTINEL.split(placed)
        for k, piece in enumerate(pieces):
            if k % 2 == 0:
                emitter.text(piece)
            else:
                emitter.markup(self.paras.markup[int(piece)])
        emitter.finish(end)
        return "".join(emitter.out), degraded


@dataclass(slots=True)
class _Entry:
    elem: int
    role: int
    synthetic: bool = False
    #: The element's close came: held back (its markup) until other markup comes.
    pending: str | None = None


class _Emitter:
    """Writes placed markup and text so that text is always inside a text element."""

    def __init__(self, writer: _PartWriter, start: tuple[int, ...], unit: Unit) -> None:
        self.w = writer
        self.p = writer.paras
        self.out: list[str] = []
        self.stack = [_Entry(e, self.p.roles[e]) for e in start]
        self.stray: list[str] = []
        self.eat_space = False
        runs = [e for e in start if self.p.roles[e] == RUN]
        runs += [
            self.p.markup[m.open_at].elem
            for m in unit.marks
            if m.open_at in self.p.markup and self.p.markup[m.open_at].role == RUN
        ]
        self.last_run = runs[0] if runs else -1
        texts = [e for e in start if self.p.roles[e] == T]
        self.text_elem = texts[-1] if texts else -1

    # -- helpers ---------------------------------------------------------------------------

    def _top(self) -> int:
        return self.stack[-1].role if self.stack else PARA

    def _raw(self, m: Markup) -> str:
        return self.w.copy(m.start, m.end)

    def _pop(self) -> None:
        entry = self.stack.pop()
        if entry.pending is not None:
            self.out.append(entry.pending)
        else:
            self.out.append(f"</{self.p.part.qname(entry.elem)}>")

    def _settle_pending(self, keep_run: bool = False) -> None:
        """Write the held-back closes on top (a held-back run stays open if `keep_run`)."""
        while self.stack and self.stack[-1].pending is not None:
            if keep_run and self.stack[-1].role == RUN:
                return
            self._pop()

    def _to_paragraph(self) -> None:
        self._settle_pending()
        while self.stack and self.stack[-1].role in (T, RUN):
            self._pop()

    def _text_open(self) -> str:
        if self.text_elem < 0:
            return "<t>"
        tag = self.p.part.qname(self.text_elem)
        return f'<{tag} xml:space="preserve">' if self.p.dialect.preserve else f"<{tag}>"

    def _make_run(self) -> None:
        """A run of our own, with the properties of the nearest run."""
        if self.last_run < 0:
            return  # a paragraph whose text may stand bare (a shared string)
        head_end = self.p.heads[self.last_run]
        start = self.p.part.tokens[self.last_run].start
        self.out.append(self.w.copy(start, head_end))
        self.stack.append(_Entry(self.last_run, RUN, synthetic=True))

    def _make_text(self) -> None:
        self.out.append(self._text_open())
        self.stack.append(_Entry(self.text_elem, T, synthetic=True))

    # -- events ----------------------------------------------------------------------------

    def text(self, s: str) -> None:
        if self.eat_space and s[:1].isspace():
            s = s[1:]  # the space that stood for the tab or break just written
        self.eat_space = False
        if not s:
            return
        top = self._top()
        held = bool(self.stack) and self.stack[-1].pending is not None
        if top in (T, RUN) and held and s.isspace():
            # Spaces after a closed run go to the next run rather than hang underlined on it.
            self.stray.append(s)
            return
        if top == T:
            self._flush_stray()
            self.out.append(s)
        elif top == RUN:
            self._make_text()
            self._flush_stray()
            self.out.append(s)
        else:
            self.stray.append(s)

    def markup(self, m: Markup) -> None:
        if self.stray and self._top() == T and not self._space_to_next(m):
            self._flush_stray()
        self._markup(m)

    def _space_to_next(self, m: Markup) -> bool:
        """Whether spaces held after a closed run go to the run `m` opens: only when that
        run's source text starts with a space and the closed one's does not end with one."""
        if m.kind != OPEN or m.role not in (RUN, T):
            return False
        if m.role == T:
            return True  # another text element of the same run
        closed = next((e for e in reversed(self.stack) if e.role == RUN), None)
        edges = self.p.edges
        if closed is not None and edges.get(closed.elem, ("", ""))[1].isspace():
            return False
        return edges.get(m.elem, ("", ""))[0].isspace()

    def _markup(self, m: Markup) -> None:
        self.eat_space = m.space
        if m.kind == CLOSE:
            self._close(m)
        elif m.kind == RUN_VOID:
            self._settle_pending(keep_run=True)
            if self._top() == T:
                self._pop()
            if self._top() != RUN:
                self._make_run()
            self.out.append(self._raw(m))
        elif m.kind == OPEN and m.role == T:
            self._settle_pending(keep_run=True)
            if self._top() == T:
                self._pop()
            if self._top() != RUN and not self.p.dialect.bare_text:
                self._make_run()
            self.out.append(self._raw(m))
            self.stack.append(_Entry(m.elem, T))
            self._flush_stray()
        else:  # a run or container opening, a paragraph-level void
            self._to_paragraph()
            self.out.append(self._raw(m))
            if m.kind == OPEN:
                self.stack.append(_Entry(m.elem, m.role))
                if m.role == RUN:
                    self.last_run = m.elem

    def _close(self, m: Markup) -> None:
        """Hold the close back: text placed right after it still goes inside. A run's held-back
        text element stays open inside it (a SpreadsheetML or DrawingML run holds only one)."""
        depth = next(
            (
                k
                for k in range(len(self.stack) - 1, -1, -1)
                if self.stack[k].elem == m.elem
                and not self.stack[k].synthetic
                and self.stack[k].pending is None
            ),
            -1,
        )
        if depth < 0:
            return  # closed already (its element was closed early)
        while len(self.stack) > depth + 1:
            if m.role == RUN and self.stack[-1].pending is not None and self.stack[-1].role == T:
                break
            self._pop()
        self.stack[depth].pending = self._raw(m)

    def _flush_stray(self) -> None:
        if self.stray and self._top() == T:
            self.out.extend(self.stray)
            self.stray.clear()

    def finish(self, end: tuple[int, ...]) -> None:
        """Leave the elements open that the source has open after the unit."""
        k = 0
        while (
            k < len(self.stack)
            and k < len(end)
            and self.stack[k].elem == end[k]
            and not self.stack[k].synthetic
            and self.stack[k].pending is None
        ):
            k += 1
        while len(self.stack) > k:
            self._pop()
        for e in end[k:]:
            role = self.p.roles[e]
            t = self.p.part.tokens[e]
            if role == T:
                self.out.append(self._text_open())
            elif role == RUN:
                self.out.append(self.w.copy(t.start, self.p.heads[e]))
            else:
                self.out.append(self.w.copy(t.start, t.end))
            self.stack.append(_Entry(e, role))
        if self.stray:
            self.out.extend(self.stray)
            self.stray.clear()


def units(paras: Paragraphs, language: str, fmt: str = "xml") -> Document:
    """The part's document for `language`: every block cut into sentence units."""
    found: list[Unit] = []
    source = paras.part.source
    for b, block in enumerate(paras.blocks):
        found.extend(block.cut(source, language, b))
    indexed = tuple(replace(u, index=i) for i, u in enumerate(found))
    return Document("xml", source, language, indexed)
