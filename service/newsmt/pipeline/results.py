"""What a translation hands back, and the state it is built from.

A text is read (`SourceText`: its language, given or detected, and its parsed document), then
routed (`Prepared`: the models, the units that need them, their glossary matches). As its units
come back from the models or the cache, `Finishing.add` repairs each one (protected spans,
glossary terms) and keeps what the response reports; `assemble` turns a finished text into its
`Translated`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from newsmt.pipeline.documents import Document, Unit, UnitOutput, merge_terms, render
from newsmt.pipeline.documents.finish import finish_unit
from newsmt.pipeline.documents.glossary import TermMatch
from newsmt.pipeline.documents.render import PieceSpan
from newsmt.pipeline.hops import UnitWork
from newsmt.pipeline.quality import SegmentQuality, SentenceQuality, aggregate

if TYPE_CHECKING:
    from newsmt.models.pool import ServedModel


@dataclass(frozen=True, kw_only=True)
class Translated:
    """One text's translation, as Translate answers it."""

    text: str
    source: str
    confidence: float
    #: Registry names of the models that ran, in order; empty when no model was needed.
    route: tuple[str, ...] = ()
    demo: bool = False
    #: At least one sentence reached the output-length bound and was cut there.
    truncated: bool = False
    #: Glossary sources whose target (or kept form) is in the output, and those that occurred
    #: in the input but whose target is not.
    applied_terms: tuple[str, ...] = ()
    missed_terms: tuple[str, ...] = ()
    #: Inline markup was placed by the fallback, not by the alignment.
    markup_degraded: bool = False
    #: Per-sentence quality signals rolled up; None when no model ran.
    quality: SegmentQuality | None = None
    #: The pieces a stream sends for this text, and how many of them were answered from the
    #: translation cache.
    units: int = 0
    cached_units: int = 0
    #: Other translations, best first, when asked for: each sentence's next best hypothesis
    #: in turn; never the text itself, never twice.
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceText:
    """One text as read: its language (given, or detected on the text without markup) and its
    document, parsed once for that language. No document: nothing detectable (empty, digits,
    punctuation), and the text comes back as it came."""

    text: str
    language: str
    confidence: float
    doc: Document | None


@dataclass
class Prepared:
    """One text, read and routed, before any model work."""

    read: SourceText
    #: The language it is translated into.
    target: str
    models: list[ServedModel]
    #: The units a model must translate (none when the route is empty).
    todo: list[Unit]
    #: Whether the models are asked for alignments (shared by every text of one route).
    aligned: bool
    #: The glossary terms in each unit that has any, by unit index: matched once, shared by
    #: the unit's cache key and its repair.
    matches: dict[int, list[TermMatch]] = field(default_factory=dict)
    #: The document's pieces, as a stream sends them and as units are counted.
    spans: list[PieceSpan] = field(default_factory=list)
    #: Alternative translations asked for (0: none).
    alternatives: int = 0

    @property
    def route(self) -> tuple[str, ...]:
        """The source language and the models: texts that share it share submissions."""
        return (self.read.language, *(m.spec.name for m in self.models))


@dataclass
class Finishing:
    """What a prepared text collects as its units come back, keyed by unit index (so that the
    order units finish in does not matter)."""

    outputs: list[UnitOutput | None]
    terms: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    truncated: bool = False
    works: dict[int, UnitWork] = field(default_factory=dict)

    @classmethod
    def of(cls, item: Prepared) -> Finishing | None:
        return None if item.read.doc is None else cls([None] * len(item.read.doc.units))

    def add(self, item: Prepared, index: int, work: UnitWork) -> None:
        """Repair unit `index` of `item` from its translation `work`."""
        assert item.read.doc is not None
        unit = item.read.doc.units[index]
        finished = finish_unit(unit, work.text, work.alignment, item.matches.get(index, ()))
        self.outputs[index] = finished.output
        self.terms[index] = (finished.applied, finished.missed)
        self.works[index] = work
        self.truncated = self.truncated or work.truncated

    def quality(self, index: int | None) -> SentenceQuality | None:
        work = self.works.get(index) if index is not None else None
        return None if work is None else work.quality

    def cached(self, index: int | None) -> bool:
        work = self.works.get(index) if index is not None else None
        return work is not None and work.cached


def assemble(
    item: Prepared, state: Finishing | None, *, streamed_degraded: bool | None = None
) -> Translated:
    """The response for one text whose units are all finished, rendered here; or, for a
    stream, which sent the text piece by piece, without its text (`streamed_degraded`:
    whether any piece's markup was placed by the fallback)."""
    read = item.read
    if read.doc is None or state is None:
        return Translated(
            text=read.text,
            source=read.language,
            confidence=read.confidence,
            units=int(bool(read.text)),
        )
    if streamed_degraded is None:
        rendered = render(read.doc, state.outputs)
        text, degraded = rendered.text, rendered.markup_degraded
    else:
        text, degraded = "", streamed_degraded or read.doc.degraded
    applied, missed = merge_terms(state.terms[i] for i in sorted(state.terms))
    reached = bool(item.todo)
    qualities = [q for i in sorted(state.works) if (q := state.quality(i)) is not None]
    return Translated(
        text=text,
        source=read.language,
        confidence=read.confidence,
        route=tuple(m.spec.name for m in item.models) if reached else (),
        demo=reached and any(m.demo for m in item.models),
        truncated=state.truncated,
        applied_terms=applied,
        missed_terms=missed,
        # Markup placed by the fallback only: a URL or handle put back by its position is text
        # (plain text has no markup to degrade).
        markup_degraded=degraded,
        quality=aggregate(qualities) if qualities else None,
        units=len(item.spans),
        cached_units=sum(1 for span in item.spans if state.cached(span.unit)),
        alternatives=_alternatives(item, state) if item.alternatives else (),
    )


def _alternatives(item: Prepared, state: Finishing) -> tuple[str, ...]:
    """The text again with each unit's i-th alternative in place of its translation (repaired
    as the translation is; its markup placed by the fallback: alternatives have no alignment),
    for each i asked for; those equal to the translation or to an earlier one left out."""
    doc = item.read.doc
    assert doc is not None
    text = render(doc, state.outputs).text
    found: list[str] = []
    for i in range(item.alternatives):
        outputs = list(state.outputs)
        for index, work in state.works.items():
            if i < len(work.alternatives):
                matches = item.matches.get(index, ())
                repaired = finish_unit(doc.units[index], work.alternatives[i], None, matches)
                outputs[index] = (repaired.output[0], None)
        other = render(doc, outputs).text
        if other != text and other not in found:
            found.append(other)
    return tuple(found)
