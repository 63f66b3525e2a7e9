"""Plain Python results: what the client returns instead of protobuf messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

HandlingMode = Literal["whole", "chunked", "truncated", "unspecified"]
LongInputPolicy = Literal["chunk", "truncate", "reject"]
#: How a text is written: markup is kept exactly and carried across by alignment.
TextFormat = Literal["plain", "html", "markdown"]


@dataclass(frozen=True)
class GlossaryEntry:
    """A term and what it must become; an empty `target` keeps the term as written."""

    source: str
    target: str = ""
    ignore_case: bool = False


#: A glossary: a mapping source -> target ("" keeps the term), or a list of entries.
Glossary = Mapping[str, str] | Sequence[GlossaryEntry]


@dataclass(frozen=True)
class DetectedLanguage:
    language: str
    confidence: float


@dataclass(frozen=True)
class Route:
    """The models that produced a result; `demo` means random weights, meaningless output."""

    models: tuple[str, ...] = ()
    demo: bool = False


QualityFlag = Literal[
    "LOW_CONFIDENCE",
    "REPETITION",
    "WRONG_LANGUAGE",
    "UNTRANSLATED",
    "LENGTH_RATIO",
    "NUMBER_MISMATCH",
    "TRUNCATED",
    "SUBTITLE_TOO_LONG",
    "READING_SPEED",
    "INVALID_CHARACTERS",
]


@dataclass(frozen=True)
class Quality:
    """When not to trust a translation: per-sentence signals rolled up over the segment.
    `mean_logprob` is the lowest sentence's mean token log-probability; LOW_CONFIDENCE fires
    only where `calibrated` (never on demo models)."""

    mean_logprob: float = 0.0
    flags: tuple[QualityFlag, ...] = ()
    calibrated: bool = False
    flagged_sentences: int = 0
    sentences: int = 0


@dataclass(frozen=True)
class Faithfulness:
    """How far a summary stays with the text the summarizer read (in
    `checked_against_language`): Newsroom's fragment measures, and numbers and names the
    source does not support."""

    novel_bigram_ratio: float = 0.0
    coverage: float = 0.0
    density: float = 0.0
    compression: float = 0.0
    unsupported_numbers: tuple[str, ...] = ()
    unsupported_entities: tuple[str, ...] = ()
    flagged: bool = False
    checked_against_language: str = ""


@dataclass(frozen=True)
class Segment:
    id: str
    text: str


@dataclass(frozen=True)
class Translation:
    id: str
    text: str
    detected_language: DetectedLanguage
    route: Route
    output_truncated: bool
    #: Glossary sources whose target (or kept form) is in `text`, and those that are not.
    applied_terms: tuple[str, ...] = ()
    missed_terms: tuple[str, ...] = ()
    #: Inline markup placed by a fallback, not by alignment (no tag is ever dropped).
    markup_degraded: bool = False
    quality: Quality = field(default_factory=Quality)
    #: Of the `units` pieces of the segment (what `translate_stream` yields for it), those the
    #: server answered from its translation cache.
    cached_units: int = 0
    units: int = 0
    #: With `alternatives=N`: up to N other translations, best first (fewer where the model
    #: has fewer distinct ones; none from the identity engine).
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlaggedUnit:
    """A place in a translated file with quality flags: where a person finds it ("paragraph
    12", "slide 3", "Sheet1!B7", "cue 14", a trans-unit id) and why to look."""

    location: str
    flags: tuple[QualityFlag, ...]


@dataclass(frozen=True)
class TranslatedDocument:
    """A file translated by `translate_document`, in the format it came in."""

    content: bytes
    mime_type: str
    #: The name to save it under: the request's with the target before the extension.
    file_name: str
    detected_language: DetectedLanguage
    route: Route
    quality: Quality
    applied_terms: tuple[str, ...]
    missed_terms: tuple[str, ...]
    markup_degraded: bool
    #: Sentences translated, and those answered from the server's cache.
    units: int
    cached_units: int
    flagged: tuple[FlaggedUnit, ...]

    def save(self, folder: str | Path = ".") -> Path:
        """Write the file into `folder` under `file_name`; its path."""
        path = Path(folder) / self.file_name
        path.write_bytes(self.content)
        return path


@dataclass(frozen=True)
class TranslatedUnit:
    """A piece of a segment's translation from `translate_stream`: the segment's units' texts,
    joined in order, are what `translate` returns as its text."""

    segment_index: int
    segment_id: str
    unit_index: int
    #: The span of the segment's text it translates (code points, half-open).
    source_start: int
    source_end: int
    text: str
    cached: bool
    output_truncated: bool
    quality: Quality = field(default_factory=Quality)


@dataclass(frozen=True)
class SegmentDone:
    """A segment is complete: its Translation, with `text` empty (join its units)."""

    segment_index: int
    translation: Translation


@dataclass(frozen=True)
class StreamDone:
    """The stream is complete; one that ends without it is incomplete."""

    units: int
    cached_units: int


StreamEvent = TranslatedUnit | SegmentDone | StreamDone


@dataclass(frozen=True)
class InputHandling:
    mode: HandlingMode
    chunks: int
    input_tokens: int
    window_tokens: int
    dropped_tokens: int
    reduce_passes: int


@dataclass(frozen=True)
class Summary:
    text: str
    detected_language: DetectedLanguage
    language: str
    input_handling: InputHandling
    route: Route
    faithfulness: Faithfulness = field(default_factory=Faithfulness)


@dataclass(frozen=True)
class StageStatus:
    code: int
    message: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def code_name(self) -> str:
        import grpc

        for code in grpc.StatusCode:
            if code.value[0] == self.code:
                return cast(str, code.name)  # grpc is untyped
        return str(self.code)


@dataclass(frozen=True)
class ArticleTranslation:
    language: str
    title: str
    body: str
    route: Route
    output_truncated: bool
    status: StageStatus
    applied_terms: tuple[str, ...] = ()
    missed_terms: tuple[str, ...] = ()
    markup_degraded: bool = False
    quality: Quality = field(default_factory=Quality)


@dataclass(frozen=True)
class ArticleSummary:
    language: str
    text: str
    input_handling: InputHandling
    route: Route
    status: StageStatus
    faithfulness: Faithfulness = field(default_factory=Faithfulness)


@dataclass(frozen=True)
class ArticleResult:
    id: str
    detected_language: DetectedLanguage
    translations: list[ArticleTranslation] = field(default_factory=list)
    summaries: list[ArticleSummary] = field(default_factory=list)
    demo: bool = False

    @property
    def ok(self) -> bool:
        """True when every stage succeeded."""
        return all(t.status.ok for t in self.translations) and all(
            s.status.ok for s in self.summaries
        )


@dataclass(frozen=True)
class LanguagePair:
    source: str
    target: str
    models: tuple[str, ...]
    available: bool
    demo: bool
    max_input_tokens: int


@dataclass(frozen=True)
class Languages:
    pairs: list[LanguagePair]
    summary_languages: tuple[str, ...]
    summaries_available: bool


@dataclass(frozen=True)
class ModelInfo:
    name: str
    task: str
    source: str
    target: str
    repo: str
    revision: str
    engine: str
    state: str
    loaded: bool
    demo: bool
    max_input_tokens: int
    detail: str
