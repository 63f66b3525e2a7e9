"""Glossaries: find the terms in a unit's text, then verify and repair the translation.

Entries are (source, target, ignore_case); an empty target means "keep as written" (a name, a
brand). `match` finds terms, longest first, on word boundaries. After translation `apply`
checks the output: a term whose target (or kept form) is in it is applied; a kept term that is
missing overwrites the output aligned to it; a translated term that is missing is written in
where the aligned output is a clean run of whole words, and is otherwise reported missed.

The rule, asserted here and relied on by callers: a term is reported applied only if its exact
target string is in the final output text (the unit's plain output; rendering adds only markup
and escapes around it). Every matched term is reported either applied or missed, never both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from newsmt.pipeline.documents import align
from newsmt.pipeline.documents.model import Alignment, TokenLink


@dataclass(frozen=True, slots=True)
class Entry:
    source: str
    #: "" keeps the term as written in the source.
    target: str = ""
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class TermMatch:
    entry: Entry
    #: The term's span in the unit's text, and the text there as written.
    start: int
    end: int
    text: str

    @property
    def wanted(self) -> str:
        """The exact string the output must contain: the target, or the term as written."""
        return self.entry.target or self.text


@dataclass(frozen=True, slots=True)
class Applied:
    output: str
    alignment: Alignment | None
    #: Entry sources, in order of first match, each listed once.
    applied: tuple[str, ...]
    missed: tuple[str, ...]


class Glossary:
    """A request's entries, compiled once: word-boundary patterns, longest source first."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        ordered = sorted(
            (e for e in entries if e.source.strip()), key=lambda e: len(e.source), reverse=True
        )
        self.entries = tuple(ordered)
        self._patterns = [
            (e, re.compile(_bounded(e.source), re.IGNORECASE if e.ignore_case else 0))
            for e in ordered
        ]

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def match(self, text: str, *, exclude: Sequence[tuple[int, int]] = ()) -> list[TermMatch]:
        """The terms in `text`, in text order, not overlapping: longer entries claim text
        first; matching is on Unicode word boundaries and honours `ignore_case`. Spans in
        `exclude` (a unit's protected spans) are never matched into."""
        taken: list[tuple[int, int]] = list(exclude)
        found: list[TermMatch] = []
        for entry, pattern in self._patterns:
            for m in pattern.finditer(text):
                if any(m.start() < e and s < m.end() for s, e in taken):
                    continue
                taken.append(m.span())
                found.append(TermMatch(entry, m.start(), m.end(), m.group()))
        found.sort(key=lambda t: t.start)
        return found


def _bounded(term: str) -> str:
    body = re.escape(term)
    # A boundary only where the term itself starts or ends with a word character ("C++").
    left = r"(?<!\w)" if re.match(r"\w", term) else ""
    right = r"(?!\w)" if re.search(r"\w$", term) else ""
    return left + body + right


def match(
    text: str, entries: Iterable[Entry], *, exclude: Sequence[tuple[int, int]] = ()
) -> list[TermMatch]:
    """`Glossary(entries).match(text, exclude=exclude)`; compile a `Glossary` once to match
    many units."""
    return Glossary(entries).match(text, exclude=exclude)


def apply(
    text: str,
    output: str,
    alignment: Sequence[TokenLink] | None,
    matches: Sequence[TermMatch],
) -> Applied:
    """Verify, then repair, the glossary terms `matches` (from `match` on `text`) in `output`."""
    links = tuple(alignment) if alignment is not None else None
    if links is not None and not align.is_valid(links, len(output), len(text)):
        links = None
    needed: dict[str, int] = {}
    for m in matches:
        needed[m.wanted] = needed.get(m.wanted, 0) + 1
    for m in matches:
        wanted = m.wanted
        if links is None or output.count(wanted) >= needed[wanted]:
            continue
        found = align.hull(links, text, output, m.start, m.end)
        if found is None:
            continue
        a, b = _clean(output, links, found, m, kept=not m.entry.target)
        if a >= b or wanted in output[a:b]:
            continue
        if _words(output[a:b]) > 2 * max(_words(m.text), _words(wanted)):
            continue  # far more output than a term: the alignment is not to be trusted here
        output, links = align.replace(output, links, a, b, wanted, (m.start, m.end))
    # Per entry source, every string some occurrence wants (ignore_case may match several
    # spellings of a kept term): applied when any of them is in the final output.
    wanted_by_source: dict[str, list[str]] = {}
    for m in matches:
        wanted_by_source.setdefault(m.entry.source, []).append(m.wanted)
    applied = [s for s, wanted in wanted_by_source.items() if any(w in output for w in wanted)]
    missed = [s for s in wanted_by_source if s not in applied]
    result = Applied(
        output, links if alignment is not None else None, tuple(applied), tuple(missed)
    )
    assert all(
        any(m.wanted in result.output for m in matches if m.entry.source == s)
        for s in result.applied
    ), "a glossary term was reported applied without its target in the output"
    return result


def _words(text: str) -> int:
    return len(text.split())


def _clean(
    output: str,
    links: Sequence[TokenLink],
    found: tuple[int, int],
    term: TermMatch,
    *,
    kept: bool,
) -> tuple[int, int]:
    """The output span to overwrite for `term`, or an empty span when it is not clean.

    A kept term overwrites its aligned output widened to whole words. A translated term needs a
    clean span: whole words already, and every token in it aligned into the term."""
    a, b = found
    while a < b and output[a].isspace():
        a += 1
    while b > a and (output[b - 1].isspace() or output[b - 1] in ".,;:!?"):
        b -= 1
    if kept:
        return align.widen_to_words(output, a, b)
    if align.widen_to_words(output, a, b) != (a, b):
        return (0, 0)
    for x, y, c, d in links:
        if x < b and y > a and not output[x:y].isspace():
            inside = min(d, term.end) - max(c, term.start)
            if inside <= 0:
                return (0, 0)
    return (a, b)


def merge_terms(
    reports: Iterable[tuple[Sequence[str], Sequence[str]]],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The applied and missed terms of a whole document from its parts' (applied, missed)
    terms: a term applied in any part has its target in the document's output, so it is
    applied; the rest of the matched terms are missed."""
    applied: list[str] = []
    missed: list[str] = []
    for part_applied, part_missed in reports:
        applied.extend(s for s in part_applied if s not in applied)
        missed.extend(s for s in part_missed if s not in missed)
    return tuple(applied), tuple(s for s in missed if s not in applied)
