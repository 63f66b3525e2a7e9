"""Pipeline knobs, set from the server settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineConfig:
    #: Sentences longer than this (in model tokens) are split before translation. Kept well
    #: under Marian's 512-position limit: opus-mt degrades long before it.
    max_sentence_tokens: int = 256
    #: Output bound per sentence: ratio x input tokens + extra, capped by the model. A sentence
    #: that reaches it (opus-mt looping on noisy input) is cut and flagged.
    output_ratio: float = 2.0
    output_extra: int = 10
    #: Summary length when the caller sets none: the model's own generation settings.
    #: Most reduce passes over chunk summaries before the result is summarized as it stands.
    max_reduce_passes: int = 4
