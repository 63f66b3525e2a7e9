"""The Hugging Face tokenizer side shared by the transformers and CTranslate2 engines, so that
both feed a model exactly the same tokens."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from newsmt.engines.base import Engine

#: The tokenizer class AutoTokenizer picks for each architecture the registry serves, imported
#: straight from its module: AutoTokenizer's own import pulls in PyTorch (250 MB resident),
#: which a CTranslate2-only server never uses. tests/test_ctranslate2.py checks that these are
#: still AutoTokenizer's choices; any other architecture goes through AutoTokenizer.
_TOKENIZERS = {
    "marian": ("transformers.models.marian.tokenization_marian", "MarianTokenizer"),
    "bart": ("transformers.models.roberta.tokenization_roberta", "RobertaTokenizer"),
}


def tokenizer_class(path: Path) -> Any:
    """The tokenizer class for the model folder at `path`."""
    try:
        model_type = json.loads((path / "config.json").read_text(encoding="utf-8"))["model_type"]
    except (OSError, ValueError, KeyError, TypeError):
        model_type = None
    if model_type in _TOKENIZERS:
        module, name = _TOKENIZERS[model_type]
        return getattr(importlib.import_module(module), name)
    from transformers import AutoTokenizer

    return AutoTokenizer


class HFTokenizedEngine(Engine):
    """An engine whose tokens come from the model folder's own Hugging Face tokenizer."""

    tokenizer: Any

    def load_tokenizer(self, path: Path) -> None:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        # trust_remote_code stays off: a model repo can never run its own code here.
        self.tokenizer = tokenizer_class(path).from_pretrained(path, trust_remote_code=False)
        # Input lengths are the pipeline's business (it splits and chunks); no truncation here.
        self.tokenizer.model_max_length = 1 << 30
        self.special_tokens = frozenset(self.tokenizer.all_special_tokens)

    def _encode(self, text: str) -> list[str]:
        ids = self.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"]
        return list(self.tokenizer.convert_ids_to_tokens(ids))

    def _decode(self, tokens: Sequence[str]) -> str:
        kept = [t for t in tokens if t not in self.special_tokens]
        return str(self.tokenizer.convert_tokens_to_string(kept)).strip()
