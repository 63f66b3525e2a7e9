"""From what an engine returns to Seq-Logprob: the mean log-probability of the output tokens.

Seq-Logprob is the length-averaged log-probability of the output (Guerreiro et al. 2023; Dale et
al. 2023 use `mt_log_loss_avg`), the free hallucination signal the quality flags start from. The
averaged tokens are the generated ones up to and including the end-of-sentence token.

CTranslate2 (4.x; read at OpenNMT/CTranslate2 `0d8bcd36`, checked against 4.8.5 in the tests):
``translate_batch(..., return_scores=True)`` returns per hypothesis the cumulative log-probability
divided by ``length ** length_penalty`` (`src/decoding.cc`, `finalize_hypothesis_score`;
`include/ctranslate2/translation.h`: "hypothesis_score /= (hypothesis_length ** length_penalty)").
The sum and the length both count:

- the end token: the decoder keeps it in the hypothesis while scoring
  (`DecodingOptions::include_eos_in_hypotheses = true`) and `translate_batch` strips it only
  afterwards, unless ``return_end_token=True`` (`src/models/sequence_to_sequence.cc`);
- the target prefix (BART's forced ``<s>``), which is returned with the hypothesis
  (`return_prefix = true`) and scored 0 (`update_sample_with_prefix` sets its score to 0).

A hypothesis that hit ``max_decoding_length`` (prefix included) has no end token. The scores are
log-softmax values after the logits processors (repetition penalty, no-repeat n-grams, min length).
There is no ``normalize_scores`` option any more: CTranslate2 3.0 removed it and always divides by
``length ** length_penalty`` (CHANGELOG: "Remove option `normalize_scores`").

transformers: ``compute_transition_scores(sequences, scores, beam_indices)`` gives one log-prob per
generated position; positions after a row's end token are padding (0). `generated_logprobs` keeps
the real ones.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence


def ct2_scored_length(
    returned_tokens: int, max_decoding_length: int, *, return_end_token: bool = False
) -> int:
    """The length CTranslate2 divided the score by: the hypothesis as returned (target prefix
    included) plus the end token it stripped, which it did unless the hypothesis hit
    `max_decoding_length` (then there is no end token) or `return_end_token` kept it."""
    if returned_tokens < 0 or max_decoding_length < 1:
        raise ValueError("returned_tokens must be >= 0 and max_decoding_length >= 1")
    if return_end_token:
        return returned_tokens
    return returned_tokens + (1 if returned_tokens < max_decoding_length else 0)


def mean_token_logprob_from_ct2(
    score: float, num_tokens: int, length_penalty: float, *, zero_score_tokens: int = 0
) -> float:
    """The mean token log-probability behind a CTranslate2 score.

    `num_tokens` is the length CTranslate2 normalised by (`ct2_scored_length`); the cumulative
    log-probability is ``score * num_tokens ** length_penalty``. `zero_score_tokens` (the target
    prefix: 1 for BART's forced ``<s>``) are counted in that length with a score of 0; they are
    left out of the mean, so that a forced token does not dilute it.
    """
    if num_tokens < 1:
        raise ValueError("num_tokens must be >= 1")
    if not 0 <= zero_score_tokens < num_tokens:
        raise ValueError("zero_score_tokens must be in [0, num_tokens)")
    total = score * math.pow(num_tokens, length_penalty)
    return total / (num_tokens - zero_score_tokens)


def generated_logprobs(
    transition_scores: Sequence[float],
    generated_ids: Sequence[int],
    end_ids: Collection[int],
    *,
    skip_first: int = 0,
) -> list[float]:
    """One row of transformers' `compute_transition_scores`, cut after the row's first end token.

    `generated_ids` are the generated positions of the row (``sequences[i, -scores_len:]``, i.e.
    without the decoder start token), aligned with `transition_scores`. `skip_first` drops forced
    leading tokens (BART's ``<s>``), as `zero_score_tokens` does for CTranslate2.
    """
    if len(transition_scores) != len(generated_ids):
        raise ValueError("transition_scores and generated_ids must have the same length")
    kept: list[float] = []
    for position, (score, token) in enumerate(zip(transition_scores, generated_ids, strict=True)):
        if position >= skip_first:
            kept.append(float(score))
        if token in end_ids:
            break
    return kept


def mean_token_logprob(logprobs: Sequence[float]) -> float:
    """The mean of per-token log-probabilities (at least one; none NaN)."""
    if not logprobs:
        raise ValueError("no token log-probabilities to average")
    if any(math.isnan(p) for p in logprobs):
        raise ValueError("a token log-probability is NaN")
    return math.fsum(logprobs) / len(logprobs)
