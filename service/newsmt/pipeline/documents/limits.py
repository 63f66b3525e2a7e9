"""Request checks for documents: the format name and the glossary, with errors that name the
field and never quote the request's text."""

from __future__ import annotations

from collections.abc import Sequence

from newsmt.core.errors import FieldViolation, InvalidArgument
from newsmt.pipeline.documents.glossary import Entry
from newsmt.pipeline.documents.model import FORMATS, Format

MAX_GLOSSARY_ENTRIES = 1000
#: A glossary term longer than this is no term (it would also make matching slow).
MAX_TERM_CHARS = 200


def check_format(name: str, field: str = "format") -> Format:
    """The format called `name` ("" means plain); InvalidArgument naming `field` otherwise."""
    value = (name or "plain").strip().lower()
    for known in FORMATS:
        if value == known:
            return known
    raise InvalidArgument.field(field, f"unknown format; use one of {', '.join(FORMATS)}")


def check_glossary(entries: Sequence[Entry], field: str = "glossary") -> None:
    """InvalidArgument naming each bad entry's field: too many entries, an empty or overlong
    source, an overlong target."""
    if len(entries) > MAX_GLOSSARY_ENTRIES:
        raise InvalidArgument.field(
            field, f"{len(entries)} entries; at most {MAX_GLOSSARY_ENTRIES} are allowed"
        )
    violations: list[FieldViolation] = []
    for i, entry in enumerate(entries):
        if not entry.source.strip():
            violations.append(FieldViolation(f"{field}[{i}].source", "must not be empty"))
        elif len(entry.source) > MAX_TERM_CHARS:
            violations.append(
                FieldViolation(f"{field}[{i}].source", f"longer than {MAX_TERM_CHARS} characters")
            )
        if len(entry.target) > MAX_TERM_CHARS:
            violations.append(
                FieldViolation(f"{field}[{i}].target", f"longer than {MAX_TERM_CHARS} characters")
            )
    if violations:
        raise InvalidArgument(violations)
