"""Markdown into a `Document`, with markdown-it-py (CommonMark, plus GFM tables and
strikethrough).

Block structure comes from the tokens' line maps: every paragraph, heading and table cell whose
inline content is found on its source lines becomes a block of units; everything else (code
blocks and fences, raw HTML blocks, block markers, table pipes, link reference definitions) is
skeleton and is copied exactly. Inline tokens carry no offsets, so they are found in the inline
content by walking it with a cursor, and mapped back to the source line by line. Emphasis,
strong, strikethrough, links and images are marks that keep their exact delimiters (``*`` or
``_``; a link's ``](destination "title")`` is its closing markup, copied as written). Code spans
and autolinks are protected atoms, inline raw HTML is a void. A block whose tokens cannot be
found where they should be is left untranslated and flagged (`Document.degraded`).
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from newsmt.pipeline.documents.blocks import Block, Scanned

_LINE_END = re.compile(r"\r\n|\r|\n")
_BLANK = " \t"
_local = threading.local()


def _markdown() -> MarkdownIt:
    md: MarkdownIt | None = getattr(_local, "md", None)
    if md is None:
        md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
        # Keep escapes and entities as tokens of their own, with their source markup.
        md.core.ruler.disable("text_join")
        _local.md = md
    return md


class _Mismatch(Exception):
    """An inline token is not where the content says it should be."""


class _Lines:
    """Maps positions in an inline token's content onto the source."""

    def __init__(self, starts: list[int], sources: list[int]) -> None:
        self.starts = starts  # where each content line starts in the content
        self.sources = sources  # where it starts in the source

    def __call__(self, p: int) -> int:
        j = bisect.bisect_right(self.starts, p) - 1
        return self.sources[j] + p - self.starts[j]


def scan(source: str) -> tuple[Scanned, bool]:
    """The blocks of a Markdown document, before sentences are cut, and whether a block could
    not be mapped onto the source (it is then copied untranslated)."""
    md = _markdown()
    env: dict[str, Any] = {}
    tokens = md.parse(source, env)
    lines = _source_lines(source)
    scanned = Scanned(source)
    degraded = False
    cell_line, cell_cursor = -1, 0
    for i, token in enumerate(tokens):
        if token.type != "inline" or token.map is None or not token.content.strip():
            continue
        cell = i > 0 and tokens[i - 1].type in ("th_open", "td_open")
        if cell and token.map[0] != cell_line:
            cell_line, cell_cursor = token.map[0], 0
        try:
            mapping = _map_lines(source, lines, token, cell_cursor if cell else -1)
            if cell:
                cell_cursor = mapping(len(token.content)) - lines[token.map[0]][0]
            block = Block()
            _Walker(md, env, source, token.content, mapping, block).run(token.children or [])
        except _Mismatch:
            degraded = True
            continue
        scanned.block(block)
    return scanned, degraded


def _source_lines(source: str) -> list[tuple[int, int]]:
    """(start, end) of each source line, without its line ending, as markdown-it numbers them."""
    lines: list[tuple[int, int]] = []
    at = 0
    for m in _LINE_END.finditer(source):
        lines.append((at, m.start()))
        at = m.end()
    lines.append((at, len(source)))
    return lines


def _map_lines(source: str, lines: list[tuple[int, int]], token: Token, cursor: int) -> _Lines:
    """Find each line of the token's content on its source line: as the line's end (a paragraph
    or heading line is its source line minus block markers), or from `cursor` on (a table cell;
    -1 for other blocks)."""
    assert token.map is not None
    first, stop = token.map
    starts: list[int] = []
    sources: list[int] = []
    at = 0
    for j, line in enumerate(token.content.split("\n")):
        k = first + j
        if k >= min(stop, len(lines)):
            raise _Mismatch
        start, end = lines[k]
        text = source[start:end]
        if cursor >= 0:
            pos = text.find(line, cursor if j == 0 else 0)
        elif text.endswith(line):
            pos = len(text) - len(line)
        elif text.rstrip().endswith(line):
            pos = len(text.rstrip()) - len(line)
        else:
            pos = text.rfind(line)
        if pos < 0:
            raise _Mismatch
        starts.append(at)
        sources.append(start + pos)
        at += len(line) + 1
    return _Lines(starts, sources)


class _Walker:
    """Feeds a block from an inline token's children, finding each in the content."""

    def __init__(
        self,
        md: MarkdownIt,
        env: dict[str, Any],
        source: str,
        content: str,
        at: _Lines,
        block: Block,
    ) -> None:
        self.md, self.env, self.source, self.content = md, env, source, content
        self.at = at
        self.block = block
        self.cur = 0

    def run(self, children: Sequence[Token]) -> None:
        self._walk(children)
        if self.content[self.cur :].strip():
            raise _Mismatch

    def _raw(self, start: int, end: int) -> str:
        return self.source[self.at(start) : self.at(end)]

    def _expect(self, text: str) -> int:
        if not self.content.startswith(text, self.cur):
            raise _Mismatch
        start = self.cur
        self.cur += len(text)
        return start

    def _skip(self, chars: str) -> None:
        while self.cur < len(self.content) and self.content[self.cur] in chars:
            self.cur += 1

    def _walk(self, children: Sequence[Token]) -> None:
        block = self.block
        i = 0
        while i < len(children):
            token = children[i]
            kind = token.type
            i += 1
            if kind == "text":
                self._text(token.content)
            elif kind == "text_special":
                start = self._expect(token.markup)
                block.atomic(token.content, self.at(start), self.at(self.cur))
            elif kind == "softbreak":
                start = self.cur
                self._skip(_BLANK)
                self._expect("\n")
                self._skip(_BLANK)
                block.space(self.at(start), self.at(self.cur))
            elif kind == "hardbreak":
                start = self.cur
                self._skip(_BLANK + "\\")
                self._expect("\n")
                self._skip(_BLANK)
                block.atomic("\n", self.at(start), self.at(self.cur))
            elif kind in ("em_open", "strong_open", "s_open"):
                start = self._expect(token.markup)
                block.open(self._raw(start, self.cur), self.at(start))
            elif kind in ("em_close", "strong_close", "s_close"):
                start = self._expect(token.markup)
                block.close(len(block.stack) - 1, self._raw(start, self.cur), self.at(start))
            elif kind == "link_open" and token.markup in ("autolink", "linkify"):
                i = self._autolink(children, i)
            elif kind == "link_open":
                start = self._expect("[")
                block.open(self._raw(start, self.cur), self.at(start))
            elif kind == "link_close":
                self._tail(image=False)
            elif kind == "image":
                start = self._expect("![")
                block.open(self._raw(start, self.cur), self.at(start))
                self._walk(token.children or [])
                self._tail(image=True)
            elif kind == "code_inline":
                self._code(token)
            elif kind == "html_inline":
                start = self._expect(token.content)
                block.void(self._raw(start, self.cur), self.at(start))
            else:
                raise _Mismatch

    def _text(self, text: str) -> None:
        if not text:
            return
        if not self.content.startswith(text, self.cur):
            self._skip(_BLANK)  # leading blanks of a continuation line belong to no token
        start = self._expect(text)
        at = start
        for part in text.split("\n"):
            if at > start:  # a line break inside a text token: a space, as for a soft break
                self.block.space(self.at(at - 1), self.at(at))
            self.block.text(part, self.at(at))
            at += len(part) + 1

    def _autolink(self, children: Sequence[Token], i: int) -> int:
        start = self._expect("<")
        end = self.content.find(">", self.cur)
        if end < 0:
            raise _Mismatch
        self.cur = end + 1
        raw = self._raw(start, self.cur)
        self.block.atom(self.content[start + 1 : end], raw, self.at(start))
        while i < len(children) and children[i].type != "link_close":
            i += 1
        return i + 1

    def _code(self, token: Token) -> None:
        ticks = token.markup
        start = self._expect(ticks)
        if self.content.startswith("`", self.cur):
            raise _Mismatch
        for m in re.finditer("`+", self.content[self.cur :]):
            if len(m.group()) == len(ticks):
                self.cur += m.end()
                break
        else:
            raise _Mismatch
        self.block.atom(token.content, self._raw(start, self.cur), self.at(start))

    def _tail(self, *, image: bool) -> None:
        """A link's or image's closing markup: ``]`` and its destination, title or label."""
        if not self.content.startswith("]", self.cur):
            raise _Mismatch
        start = self.cur
        self.cur = _tail_end(self.md, self.env, self.content, start, image=image)
        block = self.block
        block.close(len(block.stack) - 1, self._raw(start, self.cur), self.at(start))


def _space(ch: str) -> bool:
    return ch in (" ", "\t", "\n")


def _tail_end(md: MarkdownIt, env: dict[str, Any], src: str, label_end: int, *, image: bool) -> int:
    """Where the link whose label ends at `label_end` ends, as markdown-it's link and image
    rules read it (rules_inline/link.py, image.py)."""
    n = len(src)
    pos = label_end + 1
    if pos < n and src[pos] == "(":
        end = _inline_tail(md, src, pos, image=image)
        if end is not None:
            return end
        if image:
            raise _Mismatch
    if pos < n and src[pos] == "[":
        state = StateInline(src, md, env, [])
        label = md.helpers.parseLinkLabel(state, pos)
        if label >= 0:
            return int(label) + 1
    return label_end + 1


def _inline_tail(md: MarkdownIt, src: str, pos: int, *, image: bool) -> int | None:
    n = len(src)
    pos += 1
    while pos < n and _space(src[pos]):
        pos += 1
    if pos >= n:
        return None
    res = md.helpers.parseLinkDestination(src, pos, n)
    if res.ok and md.validateLink(md.normalizeLink(res.str)):
        pos = res.pos
    if res.ok or image:
        start = pos
        while pos < n and _space(src[pos]):
            pos += 1
        title = (
            md.helpers.parseLinkTitle(src, pos, n, None)
            if image
            else md.helpers.parseLinkTitle(src, pos, n)
        )
        if pos < n and start != pos and title.ok:
            pos = title.pos
            while pos < n and _space(src[pos]):
                pos += 1
    if pos >= n or src[pos] != ")":
        return None
    return pos + 1
