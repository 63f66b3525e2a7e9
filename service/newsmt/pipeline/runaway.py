"""Runaway generation: opus-mt is known to loop on noisy input ("the the the the ...").

A loop at the end of an output is cut after its first occurrence, and the caller is told
(`output_truncated`): a runaway is never returned as if it were a translation.
"""

from __future__ import annotations

from collections.abc import Sequence

#: A trailing n-gram (n <= MAX_PERIOD) repeated at least this many times is a loop.
MIN_REPEATS = 4
MAX_PERIOD = 8


def cut_loop(tokens: Sequence[str]) -> tuple[list[str], bool]:
    """(tokens without a trailing loop, whether one was cut). Keeps one copy of the n-gram."""
    out = list(tokens)
    # A loop of any period <= MAX_PERIOD repeats the last token within the MAX_PERIOD before
    # it; most outputs fail this at once.
    if not out or out[-1] not in out[-MAX_PERIOD - 1 : -1]:
        return out, False
    for period in range(1, MAX_PERIOD + 1):
        repeats = 1
        while (repeats + 1) * period <= len(out) and (
            out[len(out) - (repeats + 1) * period : len(out) - repeats * period]
            == out[len(out) - period :]
        ):
            repeats += 1
        if repeats >= MIN_REPEATS:
            return out[: len(out) - (repeats - 1) * period], True
    return out, False
