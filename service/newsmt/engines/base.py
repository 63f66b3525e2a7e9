"""The engine interface. The pipeline and scheduler never know which engine they drive."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings. Defaults are overwritten by the model's generation_config.json, then
    by the registry's [generation] table, so opus-mt runs with its own beam 4."""

    num_beams: int = 4
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    min_length: int = 0
    max_length: int = 512

    def merged(self, values: dict[str, Any]) -> GenerationSettings:
        known = {f.name for f in fields(self)}
        updates = {k: v for k, v in values.items() if k in known and v is not None}
        return replace(self, **updates)


@dataclass(frozen=True)
class EngineOptions:
    """How an engine runs: where, and on how many threads."""

    device: str = "cpu"
    #: Threads one engine call may use (torch intra-op threads, CTranslate2 intra_threads).
    intra_threads: int = 1
    #: Engine calls one model runs at once (CTranslate2 inter_threads, its workers, which share
    #: the model's weights); the batcher keeps that many calls going. Engines that cannot run
    #: calls in parallel (transformers, identity) run one at a time whatever this says.
    inter_threads: int = 1


@dataclass(frozen=True)
class Generated:
    """One decoded row: what the pipeline needs beyond the tokens."""

    #: Output tokens, special tokens dropped.
    tokens: list[str]
    #: Seq-Logprob: the mean log-probability of the output tokens under the model (None where
    #: an engine cannot say; 0.0 for the identity engine).
    logprob: float | None = None
    #: Alignment weights, only when asked for: one row per output token (as in `tokens`), one
    #: weight per input token (the row as given to `generate`, special tokens included).
    attention: list[list[float]] | None = None
    #: With `hypotheses` > 1: the next best hypotheses' tokens, best first (special tokens
    #: dropped; fewer where the search found fewer).
    alternatives: tuple[tuple[str, ...], ...] = ()

    def cut(self, limit: int) -> Generated:
        """The first `limit` tokens (and their attention rows; each alternative's too)."""
        if len(self.tokens) <= limit and all(len(a) <= limit for a in self.alternatives):
            return self
        attention = None if self.attention is None else self.attention[:limit]
        alternatives = tuple(a[:limit] for a in self.alternatives)
        return Generated(self.tokens[:limit], self.logprob, attention, alternatives)


class Engine(ABC):
    """A loaded seq2seq model with its tokenizer.

    Tokens are the model's own token strings. `encode` adds the end-of-sequence marker (and a
    start marker where the model wants one), so `len(encode(text))` is the model's input length.
    `generate` is called from at most `parallel_calls` scheduler threads at once (1 unless the
    engine says it is safe and useful to run more); `encode` and `decode` are called from many
    request threads and must be thread-safe (the base class serializes them with a lock, since
    Hugging Face fast tokenizers are not).
    """

    #: "transformers", "ctranslate2" or "identity"
    kind: str = ""
    #: What marks a word-initial token (SentencePiece's "▁"); None where tokens spell the text
    #: as it is (the identity engine). Used to map tokens back onto text for alignments.
    word_marker: str | None = "\u2581"
    #: Calls to `generate` that may run at once (the batcher's workers for this model).
    parallel_calls: int = 1

    def __init__(self, *, name: str, demo: bool, max_input_tokens: int) -> None:
        self.name = name
        self.demo = demo
        self.max_input_tokens = max_input_tokens
        self.settings = GenerationSettings()
        #: Markers such as </s> that `encode` adds and `decode` drops.
        self.special_tokens: frozenset[str] = frozenset()
        #: Tokens the model is made to emit whatever it predicts, each taking one place of
        #: `max_new_tokens`: a forced first token (BART's <s>), a forced end token at the
        #: length limit (opus-mt's </s>).
        self.forced_first_token = False
        self.forced_end_token = False
        self._tokenizer_lock = threading.Lock()

    def content_limit(self, max_new_tokens: int) -> int:
        """The most tokens (special ones dropped) a row can get from a call of its own with
        `max_new_tokens`. A row in a call with a larger bound is cut to this, so that it gets
        what it would have got alone."""
        return max(0, max(1, max_new_tokens - self.forced_end_token) - self.forced_first_token)

    def encode(self, text: str) -> list[str]:
        with self._tokenizer_lock:
            return self._encode(text)

    def decode(self, tokens: Sequence[str]) -> str:
        with self._tokenizer_lock:
            return self._decode(tokens)

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    @abstractmethod
    def _encode(self, text: str) -> list[str]: ...

    @abstractmethod
    def _decode(self, tokens: Sequence[str]) -> str: ...

    @abstractmethod
    def generate(
        self,
        batch: Sequence[Sequence[str]],
        *,
        max_new_tokens: int,
        min_new_tokens: int = 0,
        with_attention: bool = False,
        hypotheses: int = 1,
    ) -> list[Generated]:
        """Decode a batch: per row, the generated tokens without special tokens, their mean
        log-probability, (with `with_attention`) the alignment weights, and (with
        `hypotheses` > 1) the next best hypotheses, the beam widened to at least that many."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
