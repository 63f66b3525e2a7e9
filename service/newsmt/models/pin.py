"""Pin a registry: a copy of the registry TOML with each pulled model's `revision` set to the
commit it resolved to (`newsmt models pull --pin`).

A text edit, not a TOML round trip, so that the file's comments and layout survive: in each
`[models.NAME]` table the `revision = ...` line is replaced (or, where the table has none, one
is added after its `repo` line, else after the header). The result is parsed again and checked
to say exactly what was asked.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

from newsmt.models.identity import COMMIT

_HEADER = re.compile(r"^\s*\[(?!\[)(?P<key>[^\]]+)\]\s*(?:#.*)?$")
_REVISION = re.compile(r"^(?P<indent>\s*)revision\s*=")
_REPO = re.compile(r"^\s*repo\s*=")


class PinError(ValueError):
    """The registry text cannot be pinned as asked; the message names the model."""


def _table(header_key: str) -> tuple[str, ...]:
    """The dotted key of a `[a.b."c"]` header, as TOML reads it."""
    data: Any = tomllib.loads(f"[{header_key}]\n")
    keys = []
    while isinstance(data, dict) and len(data) == 1:
        key = next(iter(data))
        keys.append(key)
        data = data[key]
    return tuple(keys)


def pin_registry(text: str, revisions: Mapping[str, str]) -> str:
    """`text` (a registry TOML) with `revision = "<sha>"` for each model in `revisions`."""
    for name, commit in revisions.items():
        if not COMMIT.fullmatch(commit):
            raise PinError(f"models.{name}: {commit!r} is not a 40-digit commit SHA")
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    current: str | None = None  # the model whose table the lines are in
    done: set[str] = set()
    anchor: int | None = None  # where to add a revision line in the current table

    def close_table() -> None:
        if current is not None and current in revisions and current not in done:
            assert anchor is not None
            out.insert(anchor, f'revision = "{revisions[current]}"{newline}')
            done.add(current)

    for line in lines:
        header = _HEADER.match(line)
        if header:
            close_table()
            key = _table(header.group("key"))
            current = key[1] if len(key) == 2 and key[0] == "models" else None
            out.append(line)
            anchor = len(out)
            continue
        if current is not None and current in revisions and current not in done:
            revision = _REVISION.match(line)
            if revision:
                out.append(f'{revision.group("indent")}revision = "{revisions[current]}"{newline}')
                done.add(current)
                continue
            if _REPO.match(line):
                anchor = len(out) + 1
        out.append(line)
    if out and not out[-1].endswith(("\n", "\r")):
        out[-1] += newline
    close_table()
    pinned = "".join(out)
    models = tomllib.loads(pinned).get("models", {})
    for name, commit in revisions.items():
        if not isinstance(models.get(name), dict):
            raise PinError(f"models.{name}: no such table in the registry")
        if models[name].get("revision") != commit:
            raise PinError(f"models.{name}: could not set its revision")
    return pinned
