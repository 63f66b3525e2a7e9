"""Option types and options shared by the client-side commands.

Every numeric option goes through one of these types, so that a bad value is an argparse error
(one line naming the option, exit 2) before anything runs, never a traceback from deep inside.
"""

from __future__ import annotations

import argparse
import math
import os

#: `--address` defaults to this environment variable, then to the local server.
ADDRESS_ENV = "NEWSMT_ADDRESS"
LOCAL_ADDRESS = "127.0.0.1:50051"
#: The longest deadline a command accepts, in seconds (a day): gRPC deadlines are absolute
#: times, and a huge or infinite one overflows into an instant DEADLINE_EXCEEDED.
MAX_SECONDS = 86400.0


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def finite_float(text: str) -> float:
    """A finite number (no nan, no inf): ranges are the caller's to check."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def seconds(text: str) -> float:
    """A finite number of seconds, more than 0 and at most MAX_SECONDS."""
    value = finite_float(text)
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_SECONDS:.0f} seconds, not {text}"
        )
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def add_address(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    """--address, defaulting to $NEWSMT_ADDRESS, else the local server (read when the parser
    is built, at run time, never at import)."""
    default = os.environ.get(ADDRESS_ENV, "").strip() or LOCAL_ADDRESS
    parser.add_argument(
        "--address",
        default=default,
        help=(help_text or "server host:port (several: comma-separated)")
        + f"; default: ${ADDRESS_ENV}, else {LOCAL_ADDRESS}",
    )
