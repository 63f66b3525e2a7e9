"""The identity engine: returns its input unchanged, like Triton's identity models.

Pipeline tests use it to prove an article comes back byte for byte and in order; benchmarks
use it to measure serving overhead with no model cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from newsmt.engines.base import Engine

#: Words and the whitespace between them, so that joining the tokens gives the text back.
_TOKEN = re.compile(r"\s+|\S+")


class IdentityEngine(Engine):
    kind = "identity"

    def _encode(self, text: str) -> list[str]:
        return _TOKEN.findall(text)

    def _decode(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)

    def generate(
        self,
        batch: Sequence[Sequence[str]],
        *,
        max_new_tokens: int,
        min_new_tokens: int = 0,
    ) -> list[list[str]]:
        return [list(tokens) for tokens in batch]
