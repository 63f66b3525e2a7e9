"""SRT and WebVTT: cues joined into sentences, translated, and each cue given its share.

A sentence often runs across cues, so consecutive cues form one block (until a cue ends a
sentence, at most `MAX_CUES_PER_BLOCK`); the boundary between two cues is a void in the
unit, and a line break inside a cue another, both reading as a space. The alignment places
them in the translation like any inline tag: what falls between two cue boundaries is that
cue's text. Inline tags (``<i>``, ``<b>``, ``<font>``, VTT's ``<c.x>``, ``<v Name>``) are marks;
``{\\an8}`` and VTT timestamps are voids.

Everything but the text of cues that changed is copied byte for byte: the header, cue numbers
and ids, timings and VTT settings, NOTE, STYLE and REGION blocks, blank lines, the newline
convention. A changed cue keeps the source's line layout when its translation fits it,
otherwise it is re-wrapped (`wrap`): at most two lines of 42 characters (39 in Russian). A cue
that still does not fit is flagged SUBTITLE_TOO_LONG, one read faster than 17 characters a
second READING_SPEED.

The encoding is read as for text files (`newsmt.charsets`): a byte-order mark, then UTF-8,
then detection, so the windows-1251 and windows-1252 files many subtitle tools still write are
read too. Written back, the file keeps its encoding (and mark) where the translation fits it,
else it is UTF-8.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from newsmt import charsets
from newsmt.core.errors import InvalidArgument
from newsmt.pipeline.documents import align, project
from newsmt.pipeline.documents.blocks import Block
from newsmt.pipeline.documents.files import wrap
from newsmt.pipeline.documents.files.base import Flags, Written, read_text
from newsmt.pipeline.documents.files.kinds import FileKind
from newsmt.pipeline.documents.model import Document, TokenLink, Unit, UnitOutput
from newsmt.pipeline.quality import Flag

#: [est] A sentence running over more cues than this is cut there.
MAX_CUES_PER_BLOCK = 6
_LINE = re.compile(r"([^\r\n]*)(\r\n|\n|\r|$)")
_SRT_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_SRT_TIMING = re.compile(rf"\s*{_SRT_TIME}\s*-{{1,2}}>\s*{_SRT_TIME}")
_VTT_TIMING = re.compile(rf"\s*{_SRT_TIME}\s+-->\s+{_SRT_TIME}")
_SRT_MARKUP = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w.-]*)[^>]*>|\{\\[^}]*\}")
_VTT_MARKUP = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w-]*)[^>]*>|<[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|\w+);")
_VISIBLE_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_SPACE_RUN = re.compile(r"[ \t]{2,}|\t")
_SENTENCE_END = re.compile(r"[.!?…][\"'»”)\]]*\s*$")
_SENTINEL = re.compile("\x01(\\d+)\x02")
#: Spaces inside a name, kept from becoming a line break until the cue is laid out.
GLUE = "\x03"
_NAME = re.compile(r"[^\W\d_][\w'’-]*")


@dataclass(slots=True)
class Cue:
    label: str
    start_ms: int
    end_ms: int
    #: Payload lines (start, end), without their line breaks.
    lines: list[tuple[int, int]]

    @property
    def start(self) -> int:
        return self.lines[0][0]

    @property
    def end(self) -> int:
        return self.lines[-1][1]


@dataclass(slots=True)
class _Marker:
    kind: str  # "cue" (a boundary), "nl" (a line break), "tag"
    start: int
    end: int


@dataclass
class _Group:
    """A block: consecutive cues."""

    cues: list[int]
    block: Block = field(default_factory=Block)


class SubtitleFile:
    source_language: str | None = None

    def __init__(self, content: bytes, kind: FileKind) -> None:
        self.kind = kind
        self.vtt = kind.kind == "vtt"
        self.decoded = read_text(content, kind)
        self.source = self.decoded.text
        self.content = content
        self.cues = _vtt_cues(self.source) if self.vtt else _srt_cues(self.source)
        if not self.cues and self.source.strip():
            raise InvalidArgument.field(
                "content",
                f"no {kind.kind.upper()} cue found (no timing line like "
                f"'00:00:01{'.' if self.vtt else ','}000 --> 00:00:02{'.' if self.vtt else ','}000')",
            )
        newline = re.search(r"\r\n|\n|\r", self.source)
        self.newline = newline.group() if newline else "\n"
        self.markers: dict[int, _Marker] = {}
        self.groups = self._groups()
        self.cue_starts = [c.start for c in self.cues]

    # -- reading ---------------------------------------------------------------------------

    def _groups(self) -> list[_Group]:
        groups: list[_Group] = []
        current: _Group | None = None
        for k, cue in enumerate(self.cues):
            text = "".join(self.source[a:b] for a, b in cue.lines).strip()
            if not text:
                current = None
                continue
            if current is None or len(current.cues) >= MAX_CUES_PER_BLOCK:
                current = _Group([])
                groups.append(current)
            else:
                previous = self.cues[current.cues[-1]]
                self._void(current.block, "cue", previous.end, cue.start)
            current.cues.append(k)
            self._feed_cue(current.block, cue)
            if _SENTENCE_END.search(_VISIBLE_TAGS.sub("", text)):
                current = None
        return groups

    def _void(self, block: Block, kind: str, start: int, end: int) -> None:
        self.markers[start] = _Marker(kind, start, end)
        block.void(self.source[start:end], start)
        block.space(start, end)

    def _feed_cue(self, block: Block, cue: Cue) -> None:
        depths: list[int] = []  # the cue's open tags: their depth in the block's stack
        names: list[str] = []
        for n, (a, b) in enumerate(cue.lines):
            if n:
                self._void(block, "nl", cue.lines[n - 1][1], a)
            self._line(block, a, b, depths, names)
        if depths:  # tags a cue leaves open end with it
            block.close(depths[0], "", cue.end)

    def _line(self, block: Block, a: int, b: int, depths: list[int], names: list[str]) -> None:
        markup = _VTT_MARKUP if self.vtt else _SRT_MARKUP
        at = a
        for m in markup.finditer(self.source, a, b):
            self._text(block, at, m.start())
            raw = m.group()
            at = m.end()
            if raw.startswith("&"):
                block.atomic(html.unescape(raw), m.start(), m.end())
                continue
            self.markers[m.start()] = _Marker("tag", m.start(), m.end())
            closing, name = m.group(1), (m.group(2) or "").lower()
            if not name or raw.endswith("/>") or raw.startswith("{"):
                block.void(raw, m.start())
            elif not closing:
                depths.append(len(block.stack))
                names.append(name)
                block.open(raw, m.start())
            elif name in names:
                k = len(names) - 1 - names[::-1].index(name)
                block.close(depths[k], raw, m.start())
                del depths[k:], names[k:]
            else:
                block.void(raw, m.start())
        self._text(block, at, b)

    def _text(self, block: Block, a: int, b: int) -> None:
        at = a
        for m in _SPACE_RUN.finditer(self.source, a, b):
            block.text(self.source[at : m.start()], at)
            block.space(m.start(), m.end())
            at = m.end()
        block.text(self.source[at:b], at)

    def documents(self, language: str) -> list[Document]:
        units: list[Unit] = []
        for g, group in enumerate(self.groups):
            units.extend(group.block.cut(self.source, language, g))
        indexed = tuple(replace(u, index=i) for i, u in enumerate(units))
        return [Document("xml" if self.vtt else "plain", self.source, language, indexed)]

    def plain_text(self) -> str:
        return "\n\n".join("".join(g.block.parts).strip() for g in self.groups)

    def _cue_at(self, source_at: int) -> int:
        return max(0, bisect.bisect_right(self.cue_starts, source_at) - 1)

    def location(self, doc: Document, part: int, unit: int) -> str:
        u = doc.units[unit]
        first, last = self._cue_at(u.source_start), self._cue_at(u.source_end - 1)
        if first == last:
            return f"cue {self.cues[first].label}"
        return f"cues {self.cues[first].label}–{self.cues[last].label}"

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        docs: Sequence[Document],
        outputs: Sequence[Sequence[UnitOutput | None]],
        target: str,
        flags: Flags,
    ) -> Written:
        doc, out = docs[0], outputs[0]
        changed = [
            u
            for u in doc.units
            if out[u.index] is not None and out[u.index][0] != u.text  # type: ignore[index]
        ]
        if not changed:
            return Written(self.content, self.kind)
        payloads: dict[int, str] = {}
        found: dict[int, set[Flag]] = {}
        width = wrap.line_limit(target)
        by_group: dict[int, list[Unit]] = {}
        for u in doc.units:
            by_group.setdefault(u.block, []).append(u)
        changed_ids = {u.index for u in changed}
        for g, units in by_group.items():
            if not changed_ids.intersection(u.index for u in units):
                continue
            group = self.groups[g]
            pieces = self._pieces(group, units, out, changed_ids)
            for k, tokens in zip(group.cues, pieces, strict=True):
                cue = self.cues[k]
                if not any(
                    u.index in changed_ids and u.source_start < cue.end and u.source_end > cue.start
                    for u in units
                ):
                    continue
                payload, cue_flags = self._layout(cue, tokens, width, target)
                payloads[k] = payload
                if cue_flags:
                    found[k] = cue_flags
        text = self._assemble(payloads)
        return Written(
            charsets.encode(text, self.decoded).data,
            self.kind,
            flags=self._unit_flags(doc, found),
            flags_by_location={f"cue {self.cues[k].label}": f for k, f in found.items()},
        )

    def _unit_flags(
        self, doc: Document, found: dict[int, set[Flag]]
    ) -> dict[tuple[int, int], set[Flag]]:
        flags: dict[tuple[int, int], set[Flag]] = {}
        for k, cue_flags in found.items():
            cue = self.cues[k]
            for u in doc.units:
                if u.source_start < cue.end and u.source_end > cue.start:
                    flags.setdefault((0, u.index), set()).update(cue_flags)
        return flags

    def _assemble(self, payloads: dict[int, str]) -> str:
        parts: list[str] = []
        at = 0
        for k in sorted(payloads):
            cue = self.cues[k]
            parts.append(self.source[at : cue.start])
            parts.append(payloads[k])
            at = cue.end
        parts.append(self.source[at:])
        return "".join(parts)

    def _pieces(
        self,
        group: _Group,
        units: list[Unit],
        out: Sequence[UnitOutput | None],
        changed: set[int],
    ) -> list[list[tuple[str, str]]]:
        """The group's content as tokens, one list per cue: ("text", s), ("tag", raw),
        ("hard",) line breaks between sentences, ("soft",) line breaks inside them."""
        tokens: list[tuple[str, str]] = []
        at = self.cues[group.cues[0]].start
        for u in units:
            tokens += self._source_tokens(at, u.source_start, soft=False)
            output = out[u.index]
            if u.index in changed and output is not None:
                tokens += self._unit_tokens(u, output)
            else:
                tokens += self._source_tokens(u.source_start, u.source_end, soft=True)
            at = u.source_end
        tokens += self._source_tokens(at, self.cues[group.cues[-1]].end, soft=False)
        pieces: list[list[tuple[str, str]]] = [[]]
        for token in tokens:
            if token[0] == "cue":
                pieces.append([])
            else:
                pieces[-1].append(token)
        if len(pieces) != len(group.cues):  # never: voids are never dropped
            raise AssertionError("cue boundaries lost")
        _rebalance(pieces)
        return pieces

    def _source_tokens(self, a: int, b: int, *, soft: bool) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        at = a
        for start in sorted(s for s in self.markers if a <= s < b):
            marker = self.markers[start]
            if start > at:
                tokens.append(("text", self.source[at:start]))
            if marker.kind == "tag":
                tokens.append(("tag", self.source[marker.start : marker.end]))
            elif marker.kind == "nl":
                tokens.append(("soft" if soft else "hard", ""))
            else:
                tokens.append(("cue", ""))
            at = max(at, marker.end)
        if b > at:
            tokens.append(("text", self.source[at:b]))
        return tokens

    def _unit_tokens(self, unit: Unit, output: UnitOutput) -> list[tuple[str, str]]:
        text, links = output
        text = glue_names(unit.text, text.replace("\n", " ").replace("\r", " "), links)
        placed, _ = project.render_unit(
            unit,
            text,
            links,
            escape=_escape_vtt if self.vtt else _escape_srt,
            markup_of=lambda raw, at: f"\x01{at}\x02",
        )
        tokens: list[tuple[str, str]] = []
        for k, piece in enumerate(_SENTINEL.split(placed)):
            if k % 2 == 0:
                if piece:
                    tokens.append(("text", piece))
                continue
            marker = self.markers[int(piece)]
            if marker.kind == "tag":
                tokens.append(("tag", self.source[marker.start : marker.end]))
            else:
                tokens.append(("soft", "") if marker.kind == "nl" else ("cue", ""))
        return tokens

    def _layout(
        self, cue: Cue, tokens: list[tuple[str, str]], width: int, language: str
    ) -> tuple[str, set[Flag]]:
        """The cue's new payload and its flags."""
        segments = _words(tokens, self.vtt)
        kept = [line for line in segments if line[1]]
        flags: set[Flag] = set()
        if (
            len(kept) <= max(wrap.MAX_LINES, len(cue.lines))
            and all(wrap.line_width(words) <= width for _, words in kept)
            and len(kept) <= wrap.MAX_LINES
        ):
            lines = [words for _, words in kept]
        else:
            lines = []
            for hard in _hard_segments(segments):
                lines.extend(wrap.wrap(hard, width, language))
            if not wrap.fits(lines, width):
                flags.add(Flag.SUBTITLE_TOO_LONG)
        chars = sum(wrap.line_width(line) for line in lines)
        seconds = (cue.end_ms - cue.start_ms) / 1000
        if seconds > 0 and chars / seconds > wrap.CHARS_PER_SECOND:
            flags.add(Flag.READING_SPEED)
        payload = self.newline.join(" ".join(w.text for w in line) for line in lines)
        return payload.replace(GLUE, " "), flags


def glue_names(source: str, out: str, links: Sequence[TokenLink] | None) -> str:
    """`out` with the spaces inside names made unbreakable: the output span aligned to each
    run of capitalised words in the source (a first and last name), or, with no alignment,
    each such run in the output itself."""
    spans: list[tuple[int, int]] = []
    if links:
        for s, e in _capitalised_runs(source):
            hull = align.hull(links, source, out, s, e)
            if hull is not None and hull[1] - hull[0] <= 40:
                spans.append(hull)
    else:
        spans = [(s, e) for s, e in _capitalised_runs(out) if e - s <= 40]
    chars = list(out)
    for s, e in spans:
        for i in range(s, e):
            if chars[i] == " ":
                chars[i] = GLUE
    return "".join(chars)


def _capitalised_runs(text: str) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start = end = -1
    count = 0
    for m in _NAME.finditer(text):
        capital = m.group()[0].isupper()
        if capital and start >= 0 and text[end : m.start()] == " ":
            end, count = m.end(), count + 1
            continue
        if count >= 2:
            runs.append((start, end))
        start, end, count = (m.start(), m.end(), 1) if capital else (-1, -1, 0)
    if count >= 2:
        runs.append((start, end))
    return runs


def _escape_srt(text: str, first: bool = False) -> str:
    return text


def _escape_vtt(text: str, first: bool = False) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _words(tokens: list[tuple[str, str]], vtt: bool) -> list[tuple[str, list[wrap.Word]]]:
    """The cue's lines as the tokens break them: (how the line ends, its words)."""
    lines: list[tuple[str, list[wrap.Word]]] = []
    words: list[wrap.Word] = []
    current: list[str] = []
    width = 0
    pending_tags: list[str] = []

    def end_word() -> None:
        nonlocal current, width
        if current:
            if width == 0 and words:
                words[-1].text += "".join(current)  # a tag alone: onto the word before
            else:
                words.append(wrap.Word("".join(current), width))
        current, width = [], 0

    for kind, value in tokens:
        if kind in ("hard", "soft"):
            end_word()
            lines.append((kind, words))
            words = []
            continue
        if kind == "tag":
            current.append(value)
            continue
        for piece in re.split(r"(\s+)", value):
            if not piece:
                continue
            if piece.isspace():
                end_word()
                continue
            current.append(piece)
            width += wrap.visible_width(piece, _VISIBLE_TAGS, vtt)
    end_word()
    lines.append(("end", words))
    del pending_tags
    for _, line in lines:  # a leading tag-only word goes onto the next word
        while len(line) >= 2 and line[0].width == 0:
            line[1].text = line[0].text + line[1].text
            del line[0]
    return lines


def _hard_segments(segments: list[tuple[str, list[wrap.Word]]]) -> list[list[wrap.Word]]:
    """Lines joined across soft breaks; hard breaks (between sentences) kept."""
    out: list[list[wrap.Word]] = [[]]
    for end, words in segments:
        out[-1].extend(words)
        if end == "hard":
            out.append([])
    return [line for line in out if line]


def _rebalance(pieces: list[list[tuple[str, str]]]) -> None:
    """A cue left without a word takes one from a neighbour that has two or more."""

    def words(piece: list[tuple[str, str]]) -> int:
        return sum(len(v.split()) for k, v in piece if k == "text")

    for k, piece in enumerate(pieces):
        if words(piece):
            continue
        for other, from_end in ((k - 1, True), (k + 1, False)):
            if 0 <= other < len(pieces) and words(pieces[other]) >= 2:
                _move_word(pieces[other], piece, from_end)
                break


def _move_word(
    source: list[tuple[str, str]], target: list[tuple[str, str]], from_end: bool
) -> None:
    order = range(len(source) - 1, -1, -1) if from_end else range(len(source))
    for i in order:
        kind, value = source[i]
        if kind != "text" or not value.split():
            continue
        parts = value.split(" ")
        if from_end:
            while parts and not parts[-1]:
                parts.pop()
            word = parts.pop()
            source[i] = (kind, " ".join(parts))
            target.insert(0, ("text", word))
        else:
            while parts and not parts[0]:
                parts.pop(0)
            word = parts.pop(0)
            source[i] = (kind, " ".join(parts))
            target.append(("text", word))
        return


def _lines(source: str) -> list[tuple[int, int]]:
    """(start, end without the line break) of every line."""
    found: list[tuple[int, int]] = []
    for m in _LINE.finditer(source):
        if m.start() == len(source) and found:
            break
        found.append((m.start(), m.end(1)))
        if not m.group(2):
            break
    return found


def _ms(groups: Sequence[str | None]) -> int:
    h, m, s, frac = groups
    return ((int(h or 0) * 60 + int(m or 0)) * 60 + int(s or 0)) * 1000 + int(
        (frac or "0").ljust(3, "0")[:3]
    )


def _srt_cues(source: str) -> list[Cue]:
    lines = _lines(source)
    cues: list[Cue] = []
    k = 0
    while k < len(lines):
        a, b = lines[k]
        timing = _SRT_TIMING.match(source, a, b)
        if timing is None:
            k += 1
            continue
        label = str(len(cues) + 1)
        if k and source[lines[k - 1][0] : lines[k - 1][1]].strip().isdigit():
            label = source[lines[k - 1][0] : lines[k - 1][1]].strip()
        payload: list[tuple[int, int]] = []
        j = k + 1
        while j < len(lines):
            la, lb = lines[j]
            line = source[la:lb]
            if not line.strip() or _SRT_TIMING.match(source, la, lb):
                break
            if (
                line.strip().isdigit()
                and j + 1 < len(lines)
                and _SRT_TIMING.match(source, *lines[j + 1])
            ):
                break
            payload.append((la, lb))
            j += 1
        cues.append(_cue(label, timing, payload, b))
        k = j
    return cues


def _cue(label: str, timing: re.Match[str], payload: list[tuple[int, int]], after: int) -> Cue:
    g = timing.groups()
    lines = payload or [(after, after)]
    return Cue(label, _ms(g[0:4]), _ms(g[4:8]), lines)


def _vtt_cues(source: str) -> list[Cue]:
    lines = _lines(source)
    cues: list[Cue] = []
    k = 0
    # The header runs to the first blank line.
    while k < len(lines) and source[lines[k][0] : lines[k][1]].strip():
        k += 1
    while k < len(lines):
        while k < len(lines) and not source[lines[k][0] : lines[k][1]].strip():
            k += 1
        block_start = k
        while k < len(lines) and source[lines[k][0] : lines[k][1]].strip():
            k += 1
        block = lines[block_start:k]
        if not block:
            continue
        first = source[block[0][0] : block[0][1]]
        if re.match(r"(NOTE|STYLE|REGION)(\s|$)", first):
            continue
        for n, (a, b) in enumerate(block[:2]):
            timing = _VTT_TIMING.match(source, a, b)
            if timing is None:
                continue
            label = first.strip() if n == 1 else str(len(cues) + 1)
            cues.append(_cue(label, timing, block[n + 1 :], b))
            break
    return cues
