"""The Hugging Face transformers engine (PyTorch, fp32 on CPU)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from newsmt.engines.base import GenerationSettings
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
    ) -> list[list[str]]:
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
                num_beams=s.num_beams,
                length_penalty=s.length_penalty,
                no_repeat_ngram_size=s.no_repeat_ngram_size,
                repetition_penalty=s.repetition_penalty,
                early_stopping=s.num_beams > 1,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                # min_length counts the decoder start token; min_new_tokens would warn.
                min_length=min(min_new_tokens, max_new_tokens) + 1 if min_new_tokens else 0,
            )
        with self._tokenizer_lock:
            rows = [self.tokenizer.convert_ids_to_tokens(row.tolist()) for row in out]
        return [[t for t in row if t not in self.special_tokens] for row in rows]
