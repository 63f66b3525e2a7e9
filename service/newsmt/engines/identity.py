"""The identity engine: returns its input unchanged, like Triton's identity models.

Pipeline tests use it to prove an article comes back byte for byte and in order; benchmarks
use it to measure serving overhead with no model cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from newsmt.engines.base import Engine, Generated

#: Words and the whitespace between them, so that joining the tokens gives the text back.
_TOKEN = re.compile(r"\s+|\S+")


class IdentityEngine(Engine):
    kind = "identity"
    word_marker = None

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
        with_attention: bool = False,
        hypotheses: int = 1,
    ) -> list[Generated]:
        """Each row back as it came, log-probability 0, aligned on the diagonal; no
        alternatives (the input is its only hypothesis)."""
        return [
            Generated(list(tokens), 0.0, _diagonal(len(tokens)) if with_attention else None)
            for tokens in batch
        ]


def _diagonal(n: int) -> list[list[float]]:
    return [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
