"""Describe an exception for the log without its message, which may quote request text."""

from __future__ import annotations

import traceback


def describe(exc: BaseException) -> str:
    """The exception's type and the code locations it passed through; never its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-6:])
    )
    return f"{type(exc).__module__}.{type(exc).__qualname__} at {where or '?'}"
