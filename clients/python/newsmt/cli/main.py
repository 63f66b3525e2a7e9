"""`newsmt`: one entry point, with subcommands.

Exit codes: 0 success; 1 the work ran but something failed (a smoke stage, a translation);
2 bad usage or set-up (bad flag, no server, no models); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DESCRIPTION = """\
newsmt translates news (English <-> Russian, English <-> Spanish, Russian <-> Spanish through
English) with MarianMT, and summarizes it in any of those languages, as a gRPC service.

Start with `newsmt smoke`: it builds demo models if none are installed, starts a server in
this process, and runs every article in seeds/ through it."""


def build_parser() -> argparse.ArgumentParser:
    from newsmt.cli import health, models, process, serve, smoke, text

    parser = argparse.ArgumentParser(
        prog="newsmt",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"newsmt {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve.register(commands)
    smoke.register(commands)
    text.register(commands)
    process.register(commands)
    models.register(commands)
    health.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsmt")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
