"""TranslateDocument: a file read (`documents.files`), its sentences translated like any
request's (one route, one scheduler submission for the whole file, the cache, the repairs),
and the file written back around them, with where a person finds each flagged sentence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsmt.core.context import RequestContext
from newsmt.pipeline.budget import TextBudget, model_chars
from newsmt.pipeline.detect import not_served
from newsmt.pipeline.documents import Glossary, UnitOutput, merge_terms
from newsmt.pipeline.documents.files import FileDocument, open_file
from newsmt.pipeline.quality import Flag, SegmentQuality, SentenceQuality, aggregate
from newsmt.pipeline.results import Finishing, Prepared, SourceText

if TYPE_CHECKING:
    from newsmt.pipeline.translate import Translator


@dataclass(frozen=True)
class TranslatedFile:
    content: bytes
    mime_type: str
    file_name: str
    source: str
    confidence: float
    route: tuple[str, ...]
    demo: bool
    quality: SegmentQuality | None
    applied_terms: tuple[str, ...]
    missed_terms: tuple[str, ...]
    markup_degraded: bool
    #: Sentences translated, and those answered from the translation cache.
    units: int
    cached_units: int
    #: (location, flags) of every flagged place, in file order.
    flagged: tuple[tuple[str, frozenset[Flag]], ...]
    #: Characters of the file's text (what a reader reads: what DeepL bills).
    characters: int


class FileTranslator:
    def __init__(self, translator: Translator) -> None:
        self.translator = translator

    def translate(
        self,
        content: bytes,
        mime_type: str,
        file_name: str,
        source: str,
        target: str,
        ctx: RequestContext,
        *,
        glossary: Glossary | None = None,
        budget: TextBudget | None = None,
    ) -> TranslatedFile:
        """Translate a file into `target`. An empty `source` means the file's own (XLIFF),
        else detect it on the file's text. InvalidArgument for a file that cannot be read (an
        unsupported, macro-enabled, encrypted, corrupt or hostile file), a language no route
        reads, or more text than `budget` allows."""
        doc = open_file(content, mime_type, file_name)
        language, confidence = source or doc.source_language or "", 1.0
        if not language:
            found = self.translator.detector.identify(doc.plain_text())
            if found.code and not found.served:
                raise not_served("content", found)
            language, confidence = found.code, found.confidence
        doc = doc.for_language(language or "en")
        read = [
            SourceText(part.source, language, confidence, part if language else None)
            for part in doc.parts
        ]
        if budget is not None:
            for part in doc.parts:
                budget.spend("content", model_chars(part))
        prepared = self.translator.prepare(read, target, glossary)
        states = self.translator.finish(prepared, ctx)
        return _written(doc, file_name, target, prepared, states, language, confidence)


def _written(
    doc: FileDocument,
    file_name: str,
    target: str,
    prepared: list[Prepared],
    states: list[Finishing | None],
    language: str,
    confidence: float,
) -> TranslatedFile:
    """The file written back, and what the response says about it."""
    outputs: list[list[UnitOutput | None]] = []
    flags: dict[tuple[int, int], set[Flag]] = {}
    qualities: list[SentenceQuality] = []
    for p, (part, state) in enumerate(zip(doc.parts, states, strict=True)):
        outputs.append(list(state.outputs) if state is not None else [None] * len(part.units))
        for index, work in sorted(state.works.items()) if state is not None else ():
            if work.quality is not None:
                qualities.append(work.quality)
                if work.quality.flags:
                    flags[(p, index)] = set(work.quality.flags)
    written = doc.write(outputs, target, flags=flags)
    reached = [item for item in prepared if item.todo]
    models = reached[0].models if reached else []
    terms = [state.terms[i] for state in states if state is not None for i in sorted(state.terms)]
    applied, missed = merge_terms(terms)
    return TranslatedFile(
        content=written.content,
        mime_type=written.mime_type,
        file_name=written.file_name_for(file_name, target),
        source=language,
        confidence=confidence,
        route=tuple(m.spec.name for m in models),
        demo=any(m.demo for m in models),
        quality=aggregate(qualities) if qualities else None,
        applied_terms=applied,
        missed_terms=missed,
        markup_degraded=written.markup_degraded,
        units=sum(len(item.todo) for item in prepared),
        cached_units=sum(
            1 for state in states if state is not None for w in state.works.values() if w.cached
        ),
        flagged=_flagged(doc, flags, written.flags_by_location),
        characters=len(doc.plain_text()),
    )


def _flagged(
    doc: FileDocument, flags: dict[tuple[int, int], set[Flag]], by_location: dict[str, set[Flag]]
) -> tuple[tuple[str, frozenset[Flag]], ...]:
    """Every flagged place once, in file order: the sentences' quality flags where their units
    are, the writer's own (subtitle cues) where it found them."""
    found: dict[str, set[Flag]] = {}
    for part, unit in sorted(flags):
        found.setdefault(doc.location(part, unit), set()).update(flags[(part, unit)])
    for location, extra in by_location.items():
        found.setdefault(location, set()).update(extra)
    return tuple((location, frozenset(f)) for location, f in found.items())
