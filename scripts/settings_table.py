#!/usr/bin/env python3
"""Print the server settings as the Markdown table the README carries (a test keeps them equal).

python scripts/settings_table.py
"""

from __future__ import annotations

from newsmt.server.settings import Settings


def table() -> str:
    rows = [
        "| flag | environment | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, _hint, default, text in Settings.fields_help():
        shown = "" if default is None else str(default)
        rows.append(
            f"| `--{name.replace('_', '-')}` | `NEWSMT_{name.upper()}` | `{shown}` | {text} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
