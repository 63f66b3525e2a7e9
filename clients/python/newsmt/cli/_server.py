"""The commands that need the server package (`serve`, `smoke`, `models`).

`newsmt-client` ships the whole CLI, but the server layers (`newsmt.server`, the models and
the ML stack) come only with the `newsmt` distribution. Where they are missing, those
commands still appear in `newsmt --help` and exit 2 with one line naming the install command.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from newsmt.cli.exitcodes import EXIT_USAGE

INSTALL_HINT = "pip install newsmt (or `pip install ./clients/python .` in a newsmt checkout)"


def server_installed() -> bool:
    """True where the `newsmt` server distribution is importable."""
    try:
        return importlib.util.find_spec("newsmt.server") is not None
    except ModuleNotFoundError:  # pragma: no cover - a broken namespace package
        return False


def register_unavailable(commands: Any, name: str, help_text: str) -> None:
    """A stand-in subcommand: takes any arguments, says what to install, exits 2."""
    parser = commands.add_parser(
        name,
        help=f"{help_text} (needs the server package)",
        description=f"`newsmt {name}` needs the newsmt server package, which is not installed "
        f"here. Install it with: {INSTALL_HINT}",
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(run=lambda _args: _unavailable(name))


def _unavailable(name: str) -> int:
    print(
        f"newsmt {name}: the server package is not installed; install it with: {INSTALL_HINT}",
        file=sys.stderr,
    )
    return EXIT_USAGE
