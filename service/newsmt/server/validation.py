"""Request validation, before any model work. Each violation names the field it is about."""

from __future__ import annotations

import re
from collections.abc import Iterable

from newsmt.core import languages
from newsmt.core.errors import FieldViolation, InvalidArgument
from newsmt.pipeline.documents import Entry, Glossary, check_glossary
from newsmt.server.settings import Settings

_SURROGATE = re.compile("[\ud800-\udfff]")


class Checker:
    """Collects violations for one request and raises them together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.violations: list[FieldViolation] = []
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

    def text(self, field: str, text: str, limit: int | None = None) -> None:
        limit = self.settings.max_segment_chars if limit is None else limit
        if len(text) > limit:
            self.fail(field, f"is {len(text)} characters; the limit is {limit}")
        if _SURROGATE.search(text):
            self.fail(field, "contains lone surrogate code points")
        self.total_chars += len(text)

    def glossary(self, field: str, entries: list[Entry]) -> Glossary | None:
        """The request's glossary (None when it has none), its violations collected."""
        try:
            check_glossary(entries, field)
        except InvalidArgument as exc:
            self.violations.extend(exc.violations)
            return None
        for entry in entries:  # terms count towards the request's size
            self.total_chars += len(entry.source) + len(entry.target)
        return Glossary(entries) if entries else None

    def count(self, field: str, n: int, limit: int) -> None:
        if n > limit:
            self.fail(field, f"has {n} entries; the limit is {limit}")

    def done(self) -> None:
        if self.total_chars > self.settings.max_request_chars:
            self.fail(
                "",
                f"request holds {self.total_chars} characters of text; the limit is "
                f"{self.settings.max_request_chars}",
            )
        if self.violations:
            raise InvalidArgument(self.violations)
