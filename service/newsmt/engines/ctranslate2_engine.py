"""The CTranslate2 engine: int8 (CPU) or float16/int8_float16 (CUDA) inference.

The tokenizer stays the Hugging Face one from the model's own folder, so tokens are exactly
those the transformers engine would feed. CTranslate2's decoding defaults differ from the
models' (beam 2, 256 steps, inputs cut at 1024): every setting is passed explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from newsmt.engines.base import EngineOptions, Generated, GenerationSettings
from newsmt.engines.hf_tokenizer import HFTokenizedEngine
from newsmt.engines.scores import ct2_scored_length, mean_token_logprob_from_ct2


class CTranslate2Engine(HFTokenizedEngine):
    kind = "ctranslate2"

    def __init__(
        self,
        ct2_path: Path,
        *,
        tokenizer_path: Path,
        name: str,
        demo: bool,
        max_input_tokens: int,
        compute_type: str,
        options: EngineOptions,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name, demo=demo, max_input_tokens=max_input_tokens)
        import ctranslate2

        self.load_tokenizer(tokenizer_path)
        self.translator = ctranslate2.Translator(
            str(ct2_path),
            device=options.device,
            compute_type=compute_type,
            intra_threads=options.intra_threads,
            inter_threads=options.inter_threads,
        )
        self.compute_type = compute_type
        # translate_batch releases the GIL and hands each call to a free worker: `inter_threads`
        # calls decode at once, on one copy of the weights (CTranslate2 docs/parallel.md).
        self.parallel_calls = max(1, options.inter_threads)
        generation = _read_json(tokenizer_path / "generation_config.json")
        self.settings = GenerationSettings().merged(generation).merged(overrides or {})
        # BART-style models force a first token (<s>) after the decoder start token.
        forced_bos = generation.get("forced_bos_token_id")
        self._prefix: list[str] | None = None
        if forced_bos is not None:
            self._prefix = [str(self.tokenizer.convert_ids_to_tokens(int(forced_bos)))]
        self.forced_first_token = self._prefix is not None
        # Models with a forced end token (opus-mt) end on it at the length limit, so they
        # produce one content token fewer there; match that, token for token.
        self.forced_end_token = generation.get("forced_eos_token_id") is not None

    def generate(
        self,
        batch: Sequence[Sequence[str]],
        *,
        max_new_tokens: int,
        min_new_tokens: int = 0,
        with_attention: bool = False,
        hypotheses: int = 1,
    ) -> list[Generated]:
        s = self.settings
        max_decoding_length = max(1, max_new_tokens - self.forced_end_token)
        results = self.translator.translate_batch(
            [list(row) for row in batch],
            target_prefix=[list(self._prefix) for _ in batch] if self._prefix else None,
            beam_size=max(s.num_beams, hypotheses),
            num_hypotheses=hypotheses,
            length_penalty=s.length_penalty,
            repetition_penalty=s.repetition_penalty,
            no_repeat_ngram_size=s.no_repeat_ngram_size,
            # Like transformers' max_new_tokens, these lengths count the forced first token.
            max_decoding_length=max_decoding_length,
            min_decoding_length=min(min_new_tokens, max_new_tokens),
            max_input_length=0,  # never cut: the pipeline splits and chunks
            return_scores=True,
            # The converter's alignment head (Marian's guided-alignment layer, else the last).
            return_attention=with_attention,
        )
        prefix = len(self._prefix or ())
        out = []
        for r in results:
            hypothesis: list[str] = list(r.hypotheses[0])
            keep = [i for i, t in enumerate(hypothesis) if t not in self.special_tokens]
            scored = ct2_scored_length(len(hypothesis), max_decoding_length)
            logprob = (
                mean_token_logprob_from_ct2(
                    float(r.scores[0]), scored, s.length_penalty, zero_score_tokens=prefix
                )
                if scored > prefix
                else None
            )
            attention = None
            if with_attention:
                rows = [list(map(float, row)) for row in r.attention[0]]
                # One row per returned token; some versions leave out the target prefix.
                offset = len(hypothesis) - len(rows)
                attention = [rows[i - offset] for i in keep if 0 <= i - offset < len(rows)]
                if len(attention) != len(keep):
                    attention = None  # inconsistent: the caller falls back
            alternatives = tuple(
                tuple(t for t in other if t not in self.special_tokens)
                for other in r.hypotheses[1:hypotheses]
            )
            out.append(Generated([hypothesis[i] for i in keep], logprob, attention, alternatives))
        return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}
