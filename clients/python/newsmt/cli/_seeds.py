"""Read seed articles: a text file whose first non-empty line is the title."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_MARKUP = re.compile(r"^[#\s*_]+|[\s*_]+$")


@dataclass(frozen=True)
class SeedArticle:
    id: str
    title: str
    body: str


def read_article(path: Path) -> SeedArticle:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip():
            title = _MARKUP.sub("", line)
            body = "\n".join(lines[i + 1 :]).strip("\n")
            body = re.sub(r"^\s*-{3,}\s*$", "", body, count=1, flags=re.MULTILINE).strip("\n")
            return SeedArticle(path.stem, title, body)
    return SeedArticle(path.stem, "", "")


def find_articles(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.txt") if p.is_file())
