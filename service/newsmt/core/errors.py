"""The failures newsmt knows about. The server maps each class to one gRPC status code.

Messages are shown to callers and logged: they never contain request text.
"""

from __future__ import annotations

from dataclasses import dataclass


class NewsmtError(Exception):
    """Base class. `message` is safe to show: it never quotes request text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(NewsmtError):
    """The request is malformed; each violation names the offending field."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(f"invalid request: {summary}")
        self.violations = violations

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])


class ModelUnavailable(NewsmtError):
    """A model the request needs is missing or failed to load (FAILED_PRECONDITION)."""

    def __init__(self, model: str, reason: str, fix: str) -> None:
        super().__init__(f"model {model!r} is {reason}; {fix}")
        self.model = model
        self.reason = reason
        self.fix = fix


class Overloaded(NewsmtError):
    """The server is at capacity; retry after `retry_after` seconds (RESOURCE_EXHAUSTED)."""

    def __init__(self, what: str, retry_after: float = 0.5) -> None:
        super().__init__(f"server overloaded: {what}; retry after {retry_after:.2f}s")
        self.retry_after = retry_after


class ServiceUnavailable(NewsmtError):
    """The server is starting, warming up or shutting down (UNAVAILABLE)."""


class DeadlineExceeded(NewsmtError):
    def __init__(self, message: str = "deadline exceeded before the work could finish") -> None:
        super().__init__(message)


class Cancelled(NewsmtError):
    def __init__(self, message: str = "request cancelled by the caller") -> None:
        super().__init__(message)


class Internal(NewsmtError):
    """A bug or an engine fault. Callers get INTERNAL with this generic message; details are
    logged server-side, without request text."""
