"""`newsmt`: one entry point, with subcommands. Exit codes: see `newsmt.cli.exitcodes`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from newsmt.cli.exitcodes import EXIT_FAILED, EXIT_INTERRUPTED

DESCRIPTION = """\
newsmt translates news (English <-> Russian, English <-> Spanish, Russian <-> Spanish through
English) with MarianMT, and summarizes it in any of those languages, as a gRPC service.

Start with `newsmt smoke`: it builds demo models if none are installed, starts a server in
this process, and runs every article in seeds/ through it."""


def build_parser() -> argparse.ArgumentParser:
    from newsmt.cli import _server, health, process, text

    parser = argparse.ArgumentParser(
        prog="newsmt",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"newsmt {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if _server.server_installed():
        from newsmt.cli import models, serve, smoke

        serve.register(commands)
        smoke.register(commands)
    else:
        _server.register_unavailable(commands, "serve", "run the gRPC server")
        _server.register_unavailable(
            commands, "smoke", "run every seed article through the service"
        )
    text.register(commands)
    process.register(commands)
    if _server.server_installed():
        from newsmt.cli import eval as eval_command

        models.register(commands)
        eval_command.register(commands)
    else:
        _server.register_unavailable(commands, "models", "list, download or build models")
        _server.register_unavailable(commands, "eval", "measure translation quality")
    health.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout was closed early (`newsmt translate ... | head`): stop quietly, and keep the
        # interpreter from failing again when it flushes stdout on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsmt-client")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
