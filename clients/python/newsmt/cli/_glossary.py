"""Glossary files for `--glossary`: TSV or CSV, one term a line.

    # comment lines and blank lines are skipped
    source<TAB>target        (terms.tsv; any file not named .csv)
    source,target            (terms.csv: RFC 4180, so "a, b",target quotes a comma)
    Reuters                  (a source alone: keep it as written, like --keep)

A first line `source<TAB>target` (or `source,target`) is a header and skipped. The file may
be in any encoding (read by `newsmt.charsets`; a byte-order mark is dropped). A line with more
than two columns is an error naming its line; so is an empty source, and a source given twice
with different targets (twice with the same target: reported, and kept once).

The server checks the limits: at most 1000 entries, each source and target at most 200
characters (`newsmt.pipeline.documents.limits`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from newsmt import charsets

_HEADER = ["source", "target"]


class GlossaryError(ValueError):
    """A glossary file that cannot be used; the message names the file and line."""


def read_glossary(
    path: Path | None, keep: list[str], warn: Callable[[str], None]
) -> dict[str, str]:
    """The terms of `path` (None: no file) and of `keep` (kept as written), source -> target.
    Problems that do not stop the run go to `warn`."""
    terms: dict[str, str] = {}
    where: dict[str, int] = {}
    if path is not None:
        try:
            text = charsets.decode(path.read_bytes()).text
        except charsets.UndecodableError as exc:
            raise GlossaryError(f"{path}: {exc}") from None
        for number, cells in _rows(path, text):
            if len(cells) > 2:
                raise GlossaryError(
                    f"{path}:{number}: {len(cells)} columns; a line is a source and a target "
                    f"({_separator(path)}-separated), or a source alone"
                )
            source = cells[0].strip()
            target = cells[1].strip() if len(cells) == 2 else ""
            if not source:
                raise GlossaryError(f"{path}:{number}: empty source term")
            first = where.get(source)
            if first is not None:
                if terms[source] != target:
                    raise GlossaryError(
                        f"{path}:{number}: {_shown(source)} is on line {first} already, with "
                        "another target; keep one"
                    )
                warn(f"{path}:{number}: {_shown(source)} repeats line {first}: ignored")
                continue
            terms[source] = target
            where[source] = number
    for term in keep:
        if terms.get(term):
            warn(f"--keep {_shown(term)} overrides its target in {path}:{where[term]}")
        terms[term] = ""
    return terms


def _separator(path: Path) -> str:
    return "comma" if path.suffix.lower() == ".csv" else "tab"


def _rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) per line that holds a term: comments, blank lines and a header
    skipped."""
    rows: list[tuple[int, list[str]]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if _separator(path) == "tab":
            cells = line.split("\t")
        else:
            try:
                [cells] = list(csv.reader([line], strict=True))
            except csv.Error as exc:
                raise GlossaryError(f"{path}:{number}: not a CSV line ({exc})") from None
        if not rows and [c.strip().lower() for c in cells] == _HEADER:
            continue
        rows.append((number, cells))
    return rows


def _shown(term: str) -> str:
    return repr(term if len(term) <= 60 else term[:57] + "...")
