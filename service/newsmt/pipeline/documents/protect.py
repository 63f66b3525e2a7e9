"""Protected spans: URLs, e-mail addresses, @handles, #hashtags (and bare web domains) must come
back byte for byte, in every format.

`find_spans` detects them in a unit's text. A unit that is nothing but protected spans never
goes to a model (`Unit.needs_model`). For an inline span, `repair` checks the decoded output: a
span missing from it verbatim overwrites the output tokens aligned to it. Numbers are not
protected: ``3.5`` becoming ``3,5`` in Russian is a correct translation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from newsmt.pipeline.documents import align
from newsmt.pipeline.documents.model import Alignment, TokenLink

_TLDS = (
    "com|org|net|edu|gov|mil|int|info|biz|io|ai|app|dev|co|me|tv|news|eu|uk|us|ca|au|de|fr|"
    "es|it|nl|ru|su|ua|by|kz|mx|ar|cl|br|pt|ch|at|be|se|no|fi|dk|pl|cz|jp|cn|in|tr|gr"
)
#: (kind, a string the text must contain for the pattern to match anything, pattern)
_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("url", "", re.compile(r"(?<![\w@])(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]+", re.IGNORECASE)),
    ("email", "@", re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("handle", "@", re.compile(r"(?<![\w@./])@\w+(?:@[\w-]+(?:\.[\w-]+)+)?")),
    ("hashtag", "#", re.compile(r"(?<![\w#&])#\w*[^\W\d_]\w*")),
    (
        "domain",
        ".",
        re.compile(
            rf"(?<![\w@./-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})"
            r"(?![\w-])(?:/[^\s<>\"'`]*)?",
            re.IGNORECASE,
        ),
    ),
)
#: Characters that end a sentence rather than a URL when they come last.
_TRAILING = ".,;:!?'\"\u00bb\u201d\u2019\u2026*_"
_CLOSERS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    kind: str


def find_spans(text: str) -> list[Span]:
    """The protected spans of `text`, in order, not overlapping (the earliest, then longest,
    wins)."""
    found: list[Span] = []
    for kind, needle, pattern in _PATTERNS:
        if needle and needle not in text:
            continue
        if kind == "url" and "://" not in text and "www." not in text.lower():
            continue
        for m in pattern.finditer(text):
            end = _trim(text, m.start(), m.end()) if kind in {"url", "domain"} else m.end()
            if end > m.start():
                found.append(Span(m.start(), end, kind))
    found.sort(key=lambda s: (s.start, -(s.end - s.start)))
    spans: list[Span] = []
    for span in found:
        if not spans or span.start >= spans[-1].end:
            spans.append(span)
    return spans


def _trim(text: str, start: int, end: int) -> int:
    """Drop sentence punctuation, and closing brackets not opened inside the URL, from its end."""
    while end > start:
        last = text[end - 1]
        if last in _TRAILING:
            end -= 1
        elif last in _CLOSERS:
            inside = text[start:end]
            if inside.count(_CLOSERS[last]) >= inside.count(last):
                break
            end -= 1
        else:
            break
    return end


@dataclass(frozen=True, slots=True)
class Repaired:
    output: str
    #: The alignment updated for the edits (None when none was given).
    alignment: Alignment | None
    #: Indexes into the `spans` given of those still not in the output verbatim.
    missing: tuple[int, ...]


def repair(
    text: str,
    output: str,
    alignment: Sequence[TokenLink] | None,
    spans: Sequence[tuple[int, int]],
) -> Repaired:
    """Make every protected span of `text` (``(start, end)`` pairs, e.g. ``(p.start, p.end)``
    for ``p`` in `Unit.protected`) appear verbatim in `output`, as often as it occurs in
    `text`. A missing one overwrites the output tokens aligned to it (widened to whole words,
    sentence punctuation left outside). What cannot be repaired (no alignment, nothing aligned)
    is reported in `missing`; nothing is ever reported present that is not in the output."""
    if output == text:
        return Repaired(output, tuple(alignment) if alignment is not None else None, ())
    links = tuple(alignment) if alignment is not None else None
    if links is not None and not align.is_valid(links, len(output), len(text)):
        links = None
    need = Counter(text[s:e] for s, e in spans)
    sticky: dict[str, tuple[bool, bool]] = {}
    for s, e in spans:
        left, right = sticky.get(text[s:e], (False, False))
        g = glued(text, s, e)
        sticky[text[s:e]] = (left or g[0], right or g[1])
    written: list[tuple[int, int]] = []  # output regions this call wrote, kept intact
    for _ in range(2):  # a repair can overwrite a short span counted present: look again
        for s, e in spans:
            wanted = text[s:e]
            if links is None or _count(output, wanted, sticky) >= need[wanted]:
                continue
            found = align.hull(links, text, output, s, e)
            if found is None:
                continue
            a, b = _strip_edges(output, *align.widen_to_words(output, *found))
            if a >= b or wanted in output[a:b] or any(a < y and x < b for x, y in written):
                continue
            if b - a > 2 * len(wanted) + 8:
                continue  # far more output than the span: the alignment is not to be trusted
            output, links = align.replace(output, links, a, b, wanted, (s, e))
            delta = len(wanted) - (b - a)
            written = [(x + delta, y + delta) if x >= b else (x, y) for x, y in written]
            written.append((a, a + len(wanted)))
    missing: list[int] = []
    deficit = {w: need[w] - _count(output, w, sticky) for w in need}
    for i in reversed(range(len(spans))):
        s, e = spans[i]
        if deficit[text[s:e]] > 0:
            deficit[text[s:e]] -= 1
            missing.append(i)
    return Repaired(output, links if alignment is not None else None, tuple(sorted(missing)))


def find_all(haystack: str, needle: str, *, glued: tuple[bool, bool] = (False, False)) -> list[int]:
    """Where `needle` occurs in `haystack`, not overlapping, and not glued to a word: a span
    that starts (ends) with a word character must not have one just before (after) it, unless
    `glued` says it was so in the source (left, right)."""
    found: list[int] = []
    if not needle:
        return found
    check_left = align.is_word(needle[0]) and not glued[0]
    check_right = align.is_word(needle[-1]) and not glued[1]
    at = haystack.find(needle)
    while at >= 0:
        end = at + len(needle)
        if (not check_left or at == 0 or not align.is_word(haystack[at - 1])) and (
            not check_right or end == len(haystack) or not align.is_word(haystack[end])
        ):
            found.append(at)
            at = haystack.find(needle, end)
        else:
            at = haystack.find(needle, at + 1)
    return found


def glued(text: str, start: int, end: int) -> tuple[bool, bool]:
    """Whether ``text[start:end]`` touches a word character on its left and on its right."""
    return (
        start > 0 and align.is_word(text[start - 1]) and align.is_word(text[start]),
        end < len(text) and align.is_word(text[end]) and align.is_word(text[end - 1]),
    )


def _count(haystack: str, needle: str, sticky: dict[str, tuple[bool, bool]]) -> int:
    return len(find_all(haystack, needle, glued=sticky.get(needle, (False, False))))


def _strip_edges(out: str, a: int, b: int) -> tuple[int, int]:
    """Keep whitespace and sentence punctuation at the span's edges out of an overwrite."""
    while a < b and (out[a].isspace()):
        a += 1
    while b > a and (out[b - 1].isspace() or out[b - 1] in _TRAILING):
        b -= 1
    return a, b
