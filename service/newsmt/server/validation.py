"""Request validation, before any model work. Each violation names the field it is about."""

from __future__ import annotations

import re
from collections.abc import Iterable

from newsmt.core import languages
from newsmt.core.errors import FieldViolation, InvalidArgument
from newsmt.pipeline.budget import TextBudget
from newsmt.pipeline.documents import Entry, Glossary, check_glossary
from newsmt.server.settings import Settings

_SURROGATE = re.compile("[\ud800-\udfff]")


def flag(setting: str) -> str:
    """The command-line flag of a setting ("max_request_chars" -> "--max-request-chars")."""
    return "--" + setting.replace("_", "-")


class Checker:
    """Collects violations for one request and raises them together. Every limit's message
    names the limit and the flag that sets it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.violations: list[FieldViolation] = []
        #: Characters of the fields checked with `text`.
        self.total_chars = 0

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def language(self, field: str, code: str, *, required: bool) -> str:
        """The normalized code ("" when absent and optional)."""
        normalized = languages.normalize(code)
        if not normalized:
            if required:
                self.fail(field, "is required: one of " + ", ".join(languages.SUPPORTED))
            return ""
        if normalized not in languages.SUPPORTED:
            self.fail(field, "unsupported language; use one of " + ", ".join(languages.SUPPORTED))
            return ""
        return normalized

    def languages(self, field: str, codes: Iterable[str]) -> tuple[str, ...]:
        out: list[str] = []
        for i, code in enumerate(codes):
            normalized = self.language(f"{field}[{i}]", code, required=True)
            if normalized and normalized in out:
                self.fail(f"{field}[{i}]", "is listed twice")
            elif normalized:
                out.append(normalized)
        return tuple(out)

    def text(self, field: str, text: str, setting: str = "max_segment_chars") -> None:
        """A short text field (a title, a text to detect): at most the `setting` characters,
        counted towards the request's characters (`done`)."""
        limit = getattr(self.settings, setting)
        if len(text) > limit:
            self.fail(field, f"is {len(text)} characters; the limit is {limit} ({flag(setting)})")
        self._no_surrogates(field, text)
        self.total_chars += len(text)

    def document(self, field: str, text: str) -> None:
        """A document (a segment, a body, a text to summarize): at most
        --max-document-bytes as sent. What of it reaches a model is counted once it is read
        (`budget`): markup and code do not count."""
        limit = self.settings.max_document_bytes
        # UTF-8 takes at most 4 bytes a character: only a long text needs encoding to tell.
        if len(text) * 4 > limit and (size := len(text.encode("utf-8", "surrogatepass"))) > limit:
            self.fail(
                field, f"is {size} bytes; the limit is {limit} ({flag('max_document_bytes')})"
            )
        self._no_surrogates(field, text)

    def file(self, field: str, content: bytes) -> None:
        """A file as sent: at most --max-document-bytes, and not empty."""
        limit = self.settings.max_document_bytes
        if not content:
            self.fail(field, "is empty: send the file's bytes")
        elif len(content) > limit:
            self.fail(
                field,
                f"is {len(content)} bytes; the limit is {limit} ({flag('max_document_bytes')})",
            )

    def _no_surrogates(self, field: str, text: str) -> None:
        if _SURROGATE.search(text):
            self.fail(field, "contains lone surrogate code points")

    def glossary(self, field: str, entries: list[Entry]) -> Glossary | None:
        """The request's glossary (None when it has none), its violations collected."""
        try:
            check_glossary(entries, field)
        except InvalidArgument as exc:
            self.violations.extend(exc.violations)
            return None
        # Its own limits bound it (entries, term length); its terms never reach a model.
        return Glossary(entries) if entries else None

    def count(self, field: str, n: int, limit: int, setting: str) -> None:
        if n > limit:
            self.fail(field, f"has {n} entries; the limit is {limit} ({flag(setting)})")

    def budget(self) -> TextBudget:
        """What the request's documents may send to the models: --max-request-chars, less
        what its short fields hold."""
        return TextBudget(
            self.settings.max_request_chars, flag("max_request_chars"), self.total_chars
        )

    def done(self, field: str) -> None:
        """Raise every violation found; `field` names where the request's characters are
        (the texts checked with `text`), should they be too many."""
        total = self.total_chars
        if total > self.settings.max_request_chars:
            self.fail(
                field,
                f"the request holds {total} characters of text; the limit is "
                f"{self.settings.max_request_chars} ({flag('max_request_chars')})",
            )
        if self.violations:
            raise InvalidArgument(self.violations)
