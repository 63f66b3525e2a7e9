"""The Hugging Face tokenizer side shared by the transformers and CTranslate2 engines, so that
both feed a model exactly the same tokens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from newsmt.engines.base import Engine


class HFTokenizedEngine(Engine):
    """An engine whose tokens come from the model folder's own Hugging Face tokenizer."""

    tokenizer: Any

    def load_tokenizer(self, path: Path) -> None:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        # trust_remote_code stays off: a model repo can never run its own code here.
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        # Input lengths are the pipeline's business (it splits and chunks); no truncation here.
        self.tokenizer.model_max_length = 1 << 30
        self.special_tokens = frozenset(self.tokenizer.all_special_tokens)

    def _encode(self, text: str) -> list[str]:
        ids = self.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"]
        return list(self.tokenizer.convert_ids_to_tokens(ids))

    def _decode(self, tokens: Sequence[str]) -> str:
        kept = [t for t in tokens if t not in self.special_tokens]
        return str(self.tokenizer.convert_tokens_to_string(kept)).strip()
