"""After decoding, before rendering: one call that makes a unit's output whole.

It restores the unit's protected spans (`protect.repair`), then verifies and repairs its
glossary terms (`glossary.apply`), both through the alignment; a protected span the alignment
could not place is put back near its relative place (`insert_spans`), so that URLs, addresses,
handles and hashtags always come back. It returns what `render` takes together with what the
response reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from newsmt.pipeline.documents import glossary, protect
from newsmt.pipeline.documents.model import TokenLink, Unit, UnitOutput


@dataclass(frozen=True, slots=True)
class Finished:
    #: For `render`: the repaired text and the alignment kept true through the repairs (None
    #: once a span was inserted by position).
    output: UnitOutput
    applied: tuple[str, ...]
    missed: tuple[str, ...]
    #: Indexes into `Unit.protected` of spans the alignment could not place, inserted by
    #: their relative position instead.
    inserted: tuple[int, ...] = ()


def terms(unit: Unit, terms_of: glossary.Glossary | None) -> list[glossary.TermMatch]:
    """The glossary terms in a unit, outside its protected spans: matched once per unit, and
    shared by its cache key and its repair."""
    if not terms_of:
        return []
    return terms_of.match(unit.text, exclude=[(p.start, p.end) for p in unit.protected])


def finish_unit(
    unit: Unit,
    text: str,
    alignment: Sequence[TokenLink] | None,
    matches: Sequence[glossary.TermMatch] = (),
) -> Finished:
    """Repair `text`, the decoded translation of `unit`, and report its glossary terms
    (`matches`: `terms(unit, ...)`)."""
    repaired = protect.repair(
        unit.text, text, alignment, [(p.start, p.end) for p in unit.protected]
    )
    text, links = repaired.output, repaired.alignment
    applied: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()
    if matches:
        result = glossary.apply(unit.text, text, links, matches)
        text, links, applied, missed = (
            result.output,
            result.alignment,
            result.applied,
            result.missed,
        )
    if repaired.missing:
        return Finished(
            (insert_spans(unit, text, repaired.missing), None), applied, missed, repaired.missing
        )
    return Finished((text, links), applied, missed)


def insert_spans(unit: Unit, output: str, missing: Sequence[int]) -> str:
    """`output` with each protected span of `unit` that is missing from it (indexes into
    `unit.protected`) inserted at the word boundary nearest its relative place in the unit."""
    for i in sorted(missing, key=lambda i: unit.protected[i].start, reverse=True):
        span = unit.protected[i]
        wanted = unit.text[span.start : span.end]
        if wanted in output:
            continue
        at = round(span.start / max(1, len(unit.text)) * len(output))
        space = output.find(" ", at)
        if at == 0:
            output = f"{wanted} {output}" if output else wanted
        elif space < 0:
            output = f"{output} {wanted}"
        else:
            output = f"{output[:space]} {wanted}{output[space:]}"
    return output
