"""XLIFF 1.2 and 2.0/2.1: each translatable source read as a block, each target filled.

The file is re-emitted, never re-serialised: the only changes are the targets written, their
state markers and the target language. What is filled:

- XLIFF 1.2: every ``trans-unit`` not under ``translate="no"``, not ``approved="yes"``, whose
  target is missing, empty or in a state other than ``final`` or ``signed-off``. With a
  ``seg-source``, the target mirrors its ``<mrk mtype="seg">`` segments. A target gets
  ``state="translated"``, or ``state="needs-review-translation"`` with
  ``state-qualifier="leveraged-mt"`` when the unit has a quality flag; ``target-language`` is
  set on each ``file``.
- XLIFF 2.x: every ``segment`` of a unit not under ``translate="no"`` whose state is not
  ``final`` or ``reviewed``. The segment gets ``state="translated"``, and
  ``subState="newsmt:<flags>"`` naming the quality flags when there are any; ``trgLang`` is
  set on the root.

Inline codes are inline tags: ``g``, ``pc``, ``mrk`` are marks; ``x``, ``bx``, ``ex``, ``ph``,
``bpt``, ``ept``, ``it``, ``sc``, ``ec``, ``sm``, ``em``, ``cp`` are voids copied exactly (the
native code inside ``bpt``/``ept``/``ph`` is never translated); ``mrk`` under
``translate="no"`` (2.x) or ``mtype="protected"`` (1.2) keeps its text exactly. A unit whose
translatable text was all left untranslated (None) keeps its target as it was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from newsmt.core.errors import InvalidArgument
from newsmt.pipeline.documents import project
from newsmt.pipeline.documents.blocks import Block
from newsmt.pipeline.documents.files import xml
from newsmt.pipeline.documents.files.base import Flags, Written
from newsmt.pipeline.documents.files.kinds import FileKind
from newsmt.pipeline.documents.files.xml import END, START, TEXT
from newsmt.pipeline.documents.model import Document, Unit, UnitOutput
from newsmt.pipeline.quality import Flag

_MARKS = frozenset({"g", "pc", "mrk"})
_VOIDS = frozenset({"x", "bx", "ex", "ph", "bpt", "ept", "it", "sc", "ec", "sm", "em", "cp", "sub"})
_RUNS = re.compile(r"\s+|\S+")
_FINAL_V1 = frozenset({"final", "signed-off"})
_FINAL_V2 = frozenset({"final", "reviewed"})


@dataclass
class _Slot:
    """One source to translate and where its translation goes."""

    label: str
    #: The element whose content is translated (source, or 1.2's seg-source).
    content: int
    #: The existing target element (START token), or -1.
    target: int
    #: 2.x: the segment (its start tag carries the state).
    segment: int = -1
    #: Whitespace written before a new target.
    indent: str = ""
    blocks: list[int] = field(default_factory=list)


class XliffFile:
    def __init__(self, content: bytes, kind: FileKind) -> None:
        self.kind = kind
        self.content = content
        self.part = xml.parse(content, "the XLIFF file")
        tokens = self.part.tokens
        root = next((k for k, t in enumerate(tokens) if t.kind == START), -1)
        if root < 0 or xml.local(tokens[root].name) != "xliff":
            raise InvalidArgument.field("content", "not an XLIFF file (its root is not <xliff>)")
        self.root = root
        version = tokens[root].attrs.get("version", "")
        self.v2 = version.startswith("2") or tokens[root].name.startswith(
            "urn:oasis:names:tc:xliff:document:2"
        )
        self.source_language = _primary(
            tokens[root].attrs.get("srcLang")
            if self.v2
            else next(
                (
                    t.attrs.get("source-language")
                    for t in tokens
                    if t.kind == START and xml.local(t.name) == "file"
                ),
                None,
            )
        )
        self.blocks: list[Block] = []
        self.slots: list[_Slot] = []
        self.slot_of_block: list[int] = []
        self._walk()

    # -- reading ---------------------------------------------------------------------------

    def _walk(self) -> None:
        tokens = self.part.tokens
        translate: list[bool] = [True]
        unit_names = ("unit",) if self.v2 else ("trans-unit",)
        k = 0
        while k < len(tokens):
            t = tokens[k]
            if t.kind == START:
                name = xml.local(t.name)
                value = t.attrs.get("translate")
                here = translate[-1] if value is None else value != "no"
                if name in unit_names:
                    if here:
                        self._unit(k)
                    k = t.pair + 1
                    continue
                if name in ("alt-trans", "bin-unit", "originalData", "notes", "skeleton"):
                    k = t.pair + 1
                    continue
                translate.append(here)
            elif t.kind == END:
                translate.pop()
            k += 1

    def _children(self, k: int) -> list[int]:
        tokens = self.part.tokens
        out: list[int] = []
        i = k + 1
        while i < tokens[k].pair:
            if tokens[i].kind == START:
                out.append(i)
                i = tokens[i].pair + 1
            else:
                i += 1
        return out

    def _child(self, children: list[int], name: str) -> int:
        return next((c for c in children if xml.local(self.part.tokens[c].name) == name), -1)

    def _unit(self, k: int) -> None:
        tokens = self.part.tokens
        unit_id = tokens[k].attrs.get("id", "")
        children = self._children(k)
        if not self.v2:
            if tokens[k].attrs.get("approved") == "yes":
                return
            source = self._child(children, "source")
            segmented = self._child(children, "seg-source")
            target = self._child(children, "target")
            if source < 0:
                return
            if target >= 0 and tokens[target].attrs.get("state") in _FINAL_V1:
                return
            content = segmented if segmented >= 0 else source
            self._slot(_Slot(unit_id, content, target, indent=self._indent(source)))
            return
        segments = [c for c in children if xml.local(tokens[c].name) == "segment"]
        for n, segment in enumerate(segments, 1):
            if tokens[segment].attrs.get("state") in _FINAL_V2:
                continue
            parts = self._children(segment)
            source = self._child(parts, "source")
            if source < 0:
                continue
            seg_id = tokens[segment].attrs.get("id", str(n))
            label = unit_id if len(segments) == 1 else f"{unit_id}/{seg_id}"
            self._slot(
                _Slot(
                    label,
                    source,
                    self._child(parts, "target"),
                    segment=segment,
                    indent=self._indent(source),
                )
            )

    def _indent(self, k: int) -> str:
        """The whitespace just before token `k` (expat reports a line break apart)."""
        tokens = self.part.tokens
        start = k
        while start > 0 and tokens[start - 1].kind == TEXT and not tokens[start - 1].text.strip():
            start -= 1
        return self.part.source[tokens[start].start : tokens[k].start] if start < k else ""

    def _slot(self, slot: _Slot) -> None:
        self.slots.append(slot)
        tokens = self.part.tokens
        content = tokens[slot.content]
        block = self._new_block(slot)
        k = slot.content + 1
        while k < content.pair:
            t = tokens[k]
            if t.kind == TEXT:
                self._text(block, k)
                k += 1
                continue
            if t.kind == END:  # a mark's end
                k += 1
                continue
            name = xml.local(t.name)
            empty = t.pair == k + 1 and tokens[t.pair].start == tokens[t.pair].end
            if name == "mrk" and t.attrs.get("mtype") == "seg" and not self.v2:
                block = self._new_block(slot)
                k = self._inline(block, k + 1, t.pair)
                block = self._new_block(slot)
                k = t.pair + 1
                continue
            k = self._element(block, k, name, empty)

    def _inline(self, block: Block, k: int, stop: int) -> int:
        tokens = self.part.tokens
        while k < stop:
            t = tokens[k]
            if t.kind == TEXT:
                self._text(block, k)
                k += 1
            elif t.kind == END:
                k += 1
            else:
                name = xml.local(t.name)
                empty = t.pair == k + 1 and tokens[t.pair].start == tokens[t.pair].end
                k = self._element(block, k, name, empty)
        return k

    def _element(self, block: Block, k: int, name: str, empty: bool) -> int:
        """An inline element at token `k` (a mark's content is walked); the next token."""
        tokens = self.part.tokens
        t = tokens[k]
        source = self.part.source
        end = tokens[t.pair]
        whole = source[t.start : end.end]
        protected = name == "mrk" and (
            t.attrs.get("translate") == "no" or t.attrs.get("mtype") == "protected"
        )
        if protected:
            text = "".join(x.text for x in tokens[k + 1 : t.pair] if x.kind == TEXT)
            block.atom(" ".join(text.split()), whole, t.start)
            return t.pair + 1
        if name in _MARKS and not empty:
            elem = block.open(source[t.start : t.end], t.start)
            self._inline(block, k + 1, t.pair)
            block.close(block.stack.index(elem), source[end.start : end.end], end.start)
            return t.pair + 1
        block.void(whole, t.start)
        return t.pair + 1

    def _text(self, block: Block, k: int) -> None:
        t = self.part.tokens[k]
        raw = self.part.source[t.start : t.end]
        if t.text != raw:
            if t.text.strip():
                block.atomic(" ".join(t.text.split()) or t.text, t.start, t.end)
            else:
                block.space(t.start, t.end)
            return
        at = t.start
        for piece in _split_space(raw):
            if piece.isspace():
                if piece == " ":
                    block.text(" ", at)
                else:
                    block.space(at, at + len(piece))
            else:
                block.text(piece, at)
            at += len(piece)

    def _new_block(self, slot: _Slot) -> Block:
        if (
            self.blocks
            and not self.blocks[-1].parts
            and self.slot_of_block[-1] == len(self.slots) - 1
        ):
            return self.blocks[-1]
        block = Block()
        self.blocks.append(block)
        self.slot_of_block.append(len(self.slots) - 1)
        slot.blocks.append(len(self.blocks) - 1)
        return block

    def documents(self, language: str) -> list[Document]:
        units: list[Unit] = []
        for b, block in enumerate(self.blocks):
            units.extend(block.cut(self.part.source, language, b))
        indexed = tuple(replace(u, index=i) for i, u in enumerate(units))
        return [Document("xml", self.part.source, language, indexed)]

    def plain_text(self) -> str:
        return "\n\n".join(t for t in ("".join(b.parts).strip() for b in self.blocks) if t)

    def location(self, doc: Document, part: int, unit: int) -> str:
        return self.slots[self.slot_of_block[doc.units[unit].block]].label

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        docs: Sequence[Document],
        outputs: Sequence[Sequence[UnitOutput | None]],
        target: str,
        flags: Flags,
    ) -> Written:
        doc, out = docs[0], outputs[0]
        by_slot: dict[int, list[Unit]] = {}
        for u in doc.units:
            by_slot.setdefault(self.slot_of_block[u.block], []).append(u)
        edits: list[tuple[int, int, str]] = []
        degraded: list[tuple[int, int]] = []
        for s, slot in enumerate(self.slots):
            units = by_slot.get(s, [])
            model_units = [u for u in units if u.needs_model]
            if model_units and all(out[u.index] is None for u in model_units):
                continue
            unit_flags: set[Flag] = set()
            for u in units:
                unit_flags |= flags.get((0, u.index), set())
            content, placed = self._render(slot, units, out)
            degraded.extend((0, u) for u in placed)
            edits.extend(self._target_edits(slot, content, unit_flags))
        edits.extend(self._language_edits(target))
        text = _apply(self.part.source, edits)
        content_bytes = self.part.encode(text)
        return Written(content_bytes, self.kind, degraded=tuple(degraded))

    def _render(
        self, slot: _Slot, units: list[Unit], out: Sequence[UnitOutput | None]
    ) -> tuple[str, list[int]]:
        """The content of the slot's source with each unit's output in place."""
        tokens, source = self.part.tokens, self.part.source
        start, end = tokens[slot.content].end, tokens[tokens[slot.content].pair].start
        parts: list[str] = []
        degraded: list[int] = []
        at = start
        for u in units:
            parts.append(source[at : u.source_start])
            output = out[u.index]
            if output is None or output[0] == u.text:
                parts.append(source[u.source_start : u.source_end])
            else:
                text, placed_by_fallback = project.render_unit(
                    u, output[0], output[1], escape=xml.escape_text, markup_of=lambda raw, at: raw
                )
                parts.append(text)
                if placed_by_fallback:
                    degraded.append(u.index)
            at = u.source_end
        parts.append(source[at:end])
        return "".join(parts), degraded

    def _target_edits(
        self, slot: _Slot, content: str, found: set[Flag]
    ) -> list[tuple[int, int, str]]:
        tokens, source = self.part.tokens, self.part.source
        edits: list[tuple[int, int, str]] = []
        names = sorted(f.name.lower().replace("_", "-") for f in found)
        if self.v2:
            seg = tokens[slot.segment]
            tag = xml.set_attribute(source[seg.start : seg.end], "state", "translated")
            tag = xml.set_attribute(tag, "subState", "newsmt:" + "+".join(names) if names else None)
            edits.append((seg.start, seg.end, tag))
        if slot.target >= 0:
            t = tokens[slot.target]
            end = tokens[t.pair]
            tag = source[t.start : t.end]
            if not self.v2:
                tag = _v1_state(tag, bool(names))
            if end.start == end.end:  # <target/>
                qname = self.part.qname(slot.target)
                tag = tag[:-2].rstrip() + ">"
                edits.append((t.start, t.end, f"{tag}{content}</{qname}>"))
            else:
                edits.append((t.start, end.start, tag + content))
            return edits
        after = tokens[tokens[slot.content].pair]
        qname = self.part.qname(slot.content)
        prefix = qname[: -len(xml.local(qname))] if ":" in qname else ""
        tag = f"<{prefix}target>"
        if not self.v2:
            tag = _v1_state(tag, bool(names))
        edits.append((after.end, after.end, f"{slot.indent}{tag}{content}</{prefix}target>"))
        return edits

    def _language_edits(self, target: str) -> list[tuple[int, int, str]]:
        tokens, source = self.part.tokens, self.part.source
        if self.v2:
            t = tokens[self.root]
            return [(t.start, t.end, xml.set_attribute(source[t.start : t.end], "trgLang", target))]
        edits: list[tuple[int, int, str]] = []
        for t in tokens:
            if t.kind == START and xml.local(t.name) == "file":
                tag = xml.set_attribute(source[t.start : t.end], "target-language", target)
                edits.append((t.start, t.end, tag))
        return edits


def _v1_state(tag: str, flagged: bool) -> str:
    if flagged:
        tag = xml.set_attribute(tag, "state", "needs-review-translation")
        return xml.set_attribute(tag, "state-qualifier", "leveraged-mt")
    tag = xml.set_attribute(tag, "state", "translated")
    return xml.set_attribute(tag, "state-qualifier", None)


def _apply(source: str, edits: list[tuple[int, int, str]]) -> str:
    """`source` with each (start, end, replacement) applied; edits do not overlap."""
    parts: list[str] = []
    at = 0
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1])):
        parts.append(source[at:start])
        parts.append(text)
        at = max(at, end)
    parts.append(source[at:])
    return "".join(parts)


def _split_space(text: str) -> list[str]:
    """Text in runs of whitespace and of everything else."""
    return _RUNS.findall(text)


def _primary(tag: str | None) -> str | None:
    """The primary language subtag: "en-US" -> "en"."""
    if not tag:
        return None
    return tag.replace("_", "-").split("-")[0].strip().lower() or None
