"""What one request may send to the models: a budget of characters shared by its texts.

Only what reaches a model counts: the text of the units that need one. Markup, attribute
names, opaque elements (code, scripts) and the whitespace between sentences do not, so a whole
web page is one text and spends only its prose. The bytes of a document as sent are limited
separately, before parsing (`--max-document-bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from newsmt.core.errors import InvalidArgument
from newsmt.pipeline.documents import Document


@dataclass
class TextBudget:
    """Characters for the models, spent text by text as each is read."""

    limit: int
    #: How an operator raises the limit, named in the error.
    setting: str = "--max-request-chars"
    #: Spent so far (a glossary's terms spend from it before any text).
    used: int = 0

    def spend(self, field: str, chars: int) -> None:
        """Spend `chars` for `field`; InvalidArgument naming the field, the limit and its
        setting when the request goes over."""
        self.used += chars
        if self.used > self.limit:
            raise InvalidArgument.field(
                field,
                f"brings the request's text for the models to {self.used} characters; the "
                f"limit is {self.limit} ({self.setting}); markup and code do not count: split "
                "the text over several requests",
            )


def model_chars(doc: Document) -> int:
    """The characters of `doc` that reach a model: its units that need one."""
    return sum(len(unit.text) for unit in doc.units if unit.needs_model)
