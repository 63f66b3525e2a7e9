"""Numbers in text, compared by value across languages.

`3.5` in English is `3,5` in Russian and Spanish; `1,000` is `1 000` (a space, NBSP or narrow
NBSP) in Russian and `1.000` in Spanish. A number as written can therefore mean more than one
value, so each number gets every reading that is well formed:

- a decimal point `.` with `,` or spaces grouping thousands (`1,234.5`);
- a decimal comma `,` with `.` or spaces grouping thousands (`1.234,5`, `1 234,5`);
- where no such reading is well formed (`12.05.2020`, `2019 500`), or where a plain space joins
  the digits (`5 100` may be five thousand one hundred, or 5 and 100), the digit runs one by one.

Grouped digits are well formed when every group after the first has exactly three digits and the
first has one to three. Values are canonical strings: no leading zeros in the integer part, no
trailing zeros in the fraction (`0007` -> `7`, `3.50` -> `3.5`, `1.000` read as a decimal -> `1`).
Only ASCII digits count; signs, currency and units are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Characters that group thousands besides `.` and `,`: space, NBSP, thin space, narrow NBSP.
_SPACES = " \u00a0\u2009\u202f"
#: A number as written: digit runs joined by `.` or `,`, or by one of _SPACES where exactly three
#: digits follow (so "in 2019 5 people" is two numbers, "1 000 000" is one).
_NUMBER = re.compile(r"(?<![0-9])[0-9]+(?:(?:[.,]|[" + _SPACES + r"](?=[0-9]{3}(?![0-9])))[0-9]+)*")
_RUN = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Number:
    """A number as written, with its readings: each is a tuple of values that must all be
    present for the number to count as present (one value, or the digit runs one by one)."""

    text: str
    readings: tuple[tuple[str, ...], ...]

    @property
    def values(self) -> frozenset[str]:
        return frozenset(v for reading in self.readings for v in reading)


def canonical(integer: str, fraction: str = "") -> str:
    """The canonical value of an integer part and a fraction part, both digit strings."""
    whole = integer.lstrip("0") or "0"
    frac = fraction.rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def _grouped_reading(text: str, decimal: str) -> str | None:
    """The value of `text` with `decimal` as the decimal separator, or None if malformed."""
    runs = _RUN.findall(text)
    seps = [c for c in _RUN.split(text) if c]
    fraction = ""
    if seps and seps[-1] == decimal:
        fraction = runs.pop()
        seps.pop()
    if decimal in seps:  # a second decimal separator, or one before a group separator
        return None
    if seps:
        if len(set(seps)) > 1 and not set(seps) <= set(_SPACES):
            return None  # `1,000.000,5`-style mixtures of group separators
        if not 1 <= len(runs[0]) <= 3 or any(len(r) != 3 for r in runs[1:]):
            return None
    return canonical("".join(runs), fraction)


def parse(text: str) -> list[Number]:
    """Every number in `text`, in order."""
    numbers = []
    for match in _NUMBER.finditer(text):
        written = match.group(0)
        readings: list[tuple[str, ...]] = []
        for decimal in (".", ","):
            value = _grouped_reading(written, decimal)
            if value is not None and (value,) not in readings:
                readings.append((value,))
        runs = tuple(canonical(r) for r in _RUN.findall(written))
        if len(runs) > 1 and (not readings or " " in written):
            readings.append(runs)
        numbers.append(Number(written, tuple(readings)))
    return numbers


def values(text: str) -> frozenset[str]:
    """Every value any number in `text` may mean."""
    return frozenset(v for number in parse(text) for v in number.values)


def missing(source: str, output: str) -> list[Number]:
    """The numbers of `source` that `output` does not contain under any reading."""
    found = values(output)
    return [n for n in parse(source) if not any(set(r) <= found for r in n.readings)]
