"""Subtitle lines: a cue's text broken into at most two lines of a fixed width, by Netflix's
Timed Text Style Guide (backlothelp.netflix.com/hc/en-us/articles/219375728; Russian:
partnerhelp.netflixstudios.com/hc/en-us/articles/215346638):

- at most 2 lines of 42 characters (39 for Russian); text stays on one line when it fits;
- break after punctuation, or before a conjunction or preposition; never between words glued
  together (a first and last name, a protected span);
- at most 17 characters per second for adult programmes.

Text comes as items: words and inline tags (which take no width and never split), joined by the
spaces between words; `layout` picks the line breaks.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

MAX_LINES = 2
LINE_CHARS = 42
LINE_CHARS_BY_LANGUAGE = {"ru": 39}
CHARS_PER_SECOND = 17.0

#: A break is best after these.
_PUNCTUATION = tuple('.,;:!?…—–)»"”')
#: [est] Words a line may start with: common conjunctions and prepositions.
BREAK_BEFORE = {
    "en": frozenset(
        [
            "and",
            "but",
            "or",
            "nor",
            "so",
            "yet",
            "because",
            "although",
            "though",
            "while",
            "when",
            "where",
            "which",
            "who",
            "that",
            "if",
            "unless",
            "until",
            "after",
            "before",
            "since",
            "as",
            "than",
            "to",
            "of",
            "in",
            "on",
            "at",
            "for",
            "with",
            "from",
            "by",
            "about",
            "into",
            "over",
            "under",
            "between",
            "through",
            "during",
            "without",
            "against",
        ]
    ),
    "ru": frozenset(
        [
            "и",
            "а",
            "но",
            "или",
            "либо",
            "что",
            "чтобы",
            "потому",
            "поэтому",
            "когда",
            "где",
            "который",
            "которая",
            "которые",
            "если",
            "пока",
            "хотя",
            "как",
            "чем",
            "в",
            "во",
            "на",
            "с",
            "со",
            "к",
            "ко",
            "по",
            "из",
            "за",
            "для",
            "о",
            "об",
            "от",
            "до",
            "у",
            "при",
            "без",
            "через",
            "над",
            "под",
            "между",
        ]
    ),
    "es": frozenset(
        [
            "y",
            "e",
            "o",
            "u",
            "pero",
            "sino",
            "porque",
            "aunque",
            "cuando",
            "donde",
            "que",
            "quien",
            "si",
            "mientras",
            "como",
            "de",
            "del",
            "en",
            "a",
            "al",
            "con",
            "por",
            "para",
            "sin",
            "sobre",
            "entre",
            "hasta",
            "desde",
            "hacia",
            "tras",
            "durante",
            "contra",
        ]
    ),
}
#: [est] The cost of a break that follows no rule, against one character of imbalance.
_PLAIN_BREAK = 12
_PREPOSITION_BREAK = 3


def line_limit(language: str) -> int:
    return LINE_CHARS_BY_LANGUAGE.get(language.split("-", maxsplit=1)[0].lower(), LINE_CHARS)


@dataclass(slots=True)
class Word:
    """Text between spaces, with the tags around it; `glued` says the space after it must not
    become a line break."""

    text: str
    #: Its visible width (tags and entity spelling not counted).
    width: int
    glued: bool = False


def visible_width(markup: str, tags: re.Pattern[str], entities: bool) -> int:
    text = tags.sub("", markup)
    return len(html.unescape(text) if entities else text)


def line_width(words: list[Word]) -> int:
    return sum(w.width for w in words) + max(0, len([w for w in words if w.width]) - 1)


@dataclass(frozen=True)
class Layout:
    lines: list[list[Word]]
    #: A line over the width, or more than two lines.
    too_long: bool


def fits(lines: list[list[Word]], width: int) -> bool:
    return len(lines) <= MAX_LINES and all(line_width(line) <= width for line in lines)


def wrap(words: list[Word], width: int, language: str) -> list[list[Word]]:
    """One line if it fits, else the best break into two (possibly still too long)."""
    if line_width(words) <= width or len(words) < 2:
        return [words]
    starts = BREAK_BEFORE.get(language.split("-", maxsplit=1)[0].lower(), BREAK_BEFORE["en"])
    best: tuple[float, int] | None = None
    for k in range(1, len(words)):
        left, right = line_width(words[:k]), line_width(words[k:])
        if not words[k - 1].width or (not words[k].width and k == len(words) - 1):
            continue
        cost: float = abs(left - right)
        over = max(0, left - width) + max(0, right - width)
        cost += 1000 * over
        if words[k - 1].glued:
            cost += 10_000
        previous = _plain(words[k - 1].text)
        following = _plain(words[k].text).lower()
        if previous.endswith(_PUNCTUATION):
            pass
        elif following in starts:
            cost += _PREPOSITION_BREAK
        else:
            cost += _PLAIN_BREAK
        if best is None or cost < best[0]:
            best = (cost, k)
    if best is None:
        return [words]
    k = best[1]
    return [words[:k], words[k:]]


_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def _plain(text: str) -> str:
    return _TAG.sub("", text)
