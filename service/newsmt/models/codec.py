"""What the pipeline needs of a model to turn text into rows and rows back into text.

`ServedModel` (a model this server serves, behind its batcher) has all of it; so has an `Engine`,
which `newsmt eval` drives directly. The pipeline's hop functions take a `Codec`, so the server
and eval decode with the same code and never call an engine themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from newsmt.engines.base import GenerationSettings


class Codec(Protocol):
    @property
    def special_tokens(self) -> frozenset[str]:
        """Markers such as </s> that `encode` adds and `decode` drops."""

    @property
    def word_marker(self) -> str | None:
        """What marks a word-initial token (SentencePiece's "▁"); None where tokens spell the
        text as it is."""

    @property
    def max_input_tokens(self) -> int: ...

    @property
    def settings(self) -> GenerationSettings: ...

    def encode(self, text: str) -> list[str]: ...

    def decode(self, tokens: Sequence[str]) -> str: ...

    def content_limit(self, max_new_tokens: int) -> int: ...
