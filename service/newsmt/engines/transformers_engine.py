"""The Hugging Face transformers engine (PyTorch, fp32 on CPU)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from newsmt.engines.base import Generated, GenerationSettings
from newsmt.engines.hf_tokenizer import HFTokenizedEngine

log = logging.getLogger(__name__)


class TransformersEngine(HFTokenizedEngine):
    kind = "transformers"

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        demo: bool,
        max_input_tokens: int,
        overrides: dict[str, Any] | None = None,
        device: str = "cpu",
    ) -> None:
        super().__init__(name=name, demo=demo, max_input_tokens=max_input_tokens)
        import torch
        from transformers import AutoModelForSeq2SeqLM, GenerationConfig

        self.load_tokenizer(path)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(
            path, trust_remote_code=False, dtype=torch.float32
        ).to(device)
        self.model.eval()
        self._attn_implementation = str(self.model.config._attn_implementation)
        self.device = device
        self._torch = torch
        config = self.model.generation_config
        self.settings = (
            GenerationSettings()
            .merged(
                {
                    "num_beams": config.num_beams,
                    "length_penalty": config.length_penalty,
                    "no_repeat_ngram_size": config.no_repeat_ngram_size,
                    "repetition_penalty": config.repetition_penalty,
                    "min_length": config.min_length,
                    "max_length": config.max_length,
                }
            )
            .merged(overrides or {})
        )
        self._pad_id = self.tokenizer.pad_token_id
        self.forced_first_token = config.forced_bos_token_id is not None
        self.forced_end_token = config.forced_eos_token_id is not None
        # Lengths come with each call: the config's own return to their defaults, so that
        # transformers does not warn that two length settings compete.
        config.update(max_length=GenerationConfig().max_length, min_length=0)

    def generate(
        self,
        batch: Sequence[Sequence[str]],
        *,
        max_new_tokens: int,
        min_new_tokens: int = 0,
        with_attention: bool = False,
        hypotheses: int = 1,
    ) -> list[Generated]:
        torch = self._torch
        with self._tokenizer_lock:
            id_rows: list[list[int]] = [
                list(self.tokenizer.convert_tokens_to_ids(list(row))) for row in batch
            ]
        width = max(len(row) for row in id_rows)
        input_ids = torch.full((len(id_rows), width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((len(id_rows), width), dtype=torch.long)
        for i, row in enumerate(id_rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention[i, : len(row)] = 1
        s = self.settings
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                num_beams=max(s.num_beams, hypotheses),
                num_return_sequences=hypotheses,
                length_penalty=s.length_penalty,
                no_repeat_ngram_size=s.no_repeat_ngram_size,
                repetition_penalty=s.repetition_penalty,
                early_stopping=max(s.num_beams, hypotheses) > 1,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                # min_length counts the decoder start token; min_new_tokens would warn.
                min_length=min(min_new_tokens, max_new_tokens) + 1 if min_new_tokens else 0,
            )
            others: list[list[int]] = []
            if hypotheses > 1:
                # Each input's sequences come together, best first: the best is the output.
                grouped = out.view(len(id_rows), hypotheses, -1)
                others = grouped[:, 1:, :].reshape(-1, grouped.shape[-1]).tolist()
                out = grouped[:, 0, :]
            # One teacher-forced pass over the chosen outputs: the model's own log-probability
            # of each token (Seq-Logprob), and the cross-attention that aligns it.
            if with_attention:
                # SDPA kernels return no attention weights: this one pass runs eager. Only the
                # scheduler's thread calls generate, so switching back and forth is safe.
                self.model.set_attn_implementation("eager")
            try:
                forced = self.model(
                    input_ids=input_ids.to(self.device),
                    attention_mask=attention.to(self.device),
                    decoder_input_ids=out[:, :-1],
                    output_attentions=with_attention,
                )
            finally:
                if with_attention:
                    self.model.set_attn_implementation(self._attn_implementation)
            logits = forced.logits.float()
            chosen = logits.gather(-1, out[:, 1:].unsqueeze(-1)).squeeze(-1)
            token_logprobs = (chosen - logits.logsumexp(-1)).tolist()
            cross = None
            if with_attention and forced.cross_attentions:
                cross = forced.cross_attentions[-1].float().mean(dim=1).tolist()  # last layer
        with self._tokenizer_lock:
            rows = [self.tokenizer.convert_ids_to_tokens(row.tolist()) for row in out]
        alternatives = self._alternatives(others, hypotheses - 1, len(rows))
        results = []
        for i, row in enumerate(rows):
            # Position 0 is the decoder start token; position k was predicted at step k - 1.
            keep = [k for k in range(1, len(row)) if row[k] not in self.special_tokens]
            logprob = self._seq_logprob(row, token_logprobs[i], max_new_tokens)
            weights = None
            if cross is not None:
                weights = [cross[i][k - 1][: len(id_rows[i])] for k in keep]
            results.append(Generated([row[k] for k in keep], logprob, weights, alternatives[i]))
        return results

    def _alternatives(
        self, others: list[list[int]], per_row: int, inputs: int
    ) -> list[tuple[tuple[str, ...], ...]]:
        """Each of `inputs` inputs' next best sequences (`per_row` each, in order) as tokens,
        the decoder start token, special tokens and padding dropped; empty when none were
        asked for."""
        if not per_row:
            return [()] * inputs
        with self._tokenizer_lock:
            rows = [self.tokenizer.convert_ids_to_tokens(row) for row in others]
        drop = {*self.special_tokens, self.tokenizer.pad_token}
        tokens = [tuple(t for t in row[1:] if t not in drop) for row in rows]
        return [tuple(tokens[k : k + per_row]) for k in range(0, len(tokens), per_row)]

    def _seq_logprob(
        self, row: Sequence[str], logprobs: Sequence[float], max_new_tokens: int
    ) -> float | None:
        """The mean log-probability of a decoded row's tokens (`logprobs[k - 1]` is token
        k's). As CTranslate2 scores: the forced first token and a forced end token at the
        length bound are not the model's choice and are left out."""
        end = self.tokenizer.eos_token
        at_bound = len(row) - 1 >= max_new_tokens and self.forced_end_token
        scored = []
        for k in range(1, len(row)):
            if k == 1 and self.forced_first_token:
                continue
            if row[k] == end and at_bound and k == len(row) - 1:
                break
            scored.append(logprobs[k - 1])
            if row[k] == end:
                break
        return sum(scored) / len(scored) if scored else None
