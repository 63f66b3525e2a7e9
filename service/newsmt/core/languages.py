"""The languages newsmt speaks, and how to validate a language code."""

from __future__ import annotations

from typing import Final

ENGLISH: Final = "en"
RUSSIAN: Final = "ru"
SPANISH: Final = "es"

#: Every language newsmt translates from or into, and summarizes from or into.
SUPPORTED: Final = (ENGLISH, RUSSIAN, SPANISH)

#: The hub language: summaries are written in English, and ru<->es translation pivots here.
PIVOT: Final = ENGLISH

NAMES: Final = {ENGLISH: "English", RUSSIAN: "Russian", SPANISH: "Spanish"}


def normalize(code: str) -> str:
    """Lower-case a BCP-47 code and drop any region (`es-419` -> `es`). Empty stays empty."""
    if code in SUPPORTED:  # the usual case, already normal
        return code
    return code.strip().lower().replace("_", "-").split("-", 1)[0]
