"""After decoding, before rendering: one call that makes a unit's output whole.

It restores the unit's protected spans (`protect.repair`), then verifies and repairs its
glossary terms (`glossary.apply`), both through the alignment, and returns what `render` takes
together with what the response reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from newsmt.pipeline.documents import glossary, protect
from newsmt.pipeline.documents.model import TokenLink, Unit, UnitOutput


@dataclass(frozen=True, slots=True)
class Finished:
    #: For `render`: the repaired text and the alignment kept true through the repairs.
    output: UnitOutput
    applied: tuple[str, ...]
    missed: tuple[str, ...]
    #: Indexes into `Unit.protected` of spans still missing from the output.
    protected_missing: tuple[int, ...]


def terms(unit: Unit, terms_of: glossary.Glossary | None) -> list[glossary.TermMatch]:
    """The glossary terms in a unit, outside its protected spans."""
    if not terms_of:
        return []
    return terms_of.match(unit.text, exclude=[(p.start, p.end) for p in unit.protected])


def finish_unit(
    unit: Unit,
    text: str,
    alignment: Sequence[TokenLink] | None,
    terms_of: glossary.Glossary | None = None,
) -> Finished:
    """Repair `text`, the decoded translation of `unit`, and report its glossary terms."""
    repaired = protect.repair(
        unit.text, text, alignment, [(p.start, p.end) for p in unit.protected]
    )
    text, links = repaired.output, repaired.alignment
    matches = terms(unit, terms_of)
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
    return Finished((text, links), applied, missed, repaired.missing)
