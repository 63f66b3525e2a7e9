"""`newsmt serve`: run the gRPC server and its HTTP listener until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsmt.cli._options import finite_float
from newsmt.cli.exitcodes import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from newsmt.server.settings import Settings


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the server (gRPC, and HTTP on --http-port)",
        description="Run the newsmt server: gRPC on --port and, on --http-port, the REST API, "
        "/openapi.json and the DeepL- and LibreTranslate-compatible APIs. Every setting can also come from the "
        "environment (NEWSMT_<NAME>, e.g. NEWSMT_PORT=50052) or from a TOML config file "
        "(--config, or NEWSMT_CONFIG). Flags win over the environment, which wins over the file. "
        "The server starts listening at once with health NOT_SERVING, loads and warms up the "
        "models, then turns SERVING. SIGTERM: health goes NOT_SERVING, new calls get "
        "UNAVAILABLE (HTTP 503), in-flight calls get --shutdown-grace seconds to finish.",
    )
    add_settings_flags(parser)
    parser.set_defaults(run=run)


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    from newsmt.server.settings import Settings

    parser.add_argument(
        "--config", type=Path, help="TOML config file ([server] table or top level)"
    )
    for name, hint, default, text in Settings.fields_help():
        flag = "--" + name.replace("_", "-")
        kinds: dict[Any, Callable[[str], Any]] = {int: int, float: finite_float}
        kind = kinds.get(hint, str)  # ranges: Settings.validate
        parser.add_argument(
            flag,
            dest=name,
            type=kind,
            default=None,
            help=f"{text} (default: {default})",
        )


def settings_from(args: argparse.Namespace, **forced: Any) -> Settings:
    from newsmt.server.settings import Settings

    names = [name for name, *_ in Settings.fields_help()]
    overrides = {name: getattr(args, name, None) for name in names}
    overrides.update(forced)
    return Settings.load(overrides, config_file=getattr(args, "config", None))


def run(args: argparse.Namespace) -> int:
    from newsmt.server.logs import configure
    from newsmt.server.settings import SettingsError

    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"newsmt serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure(settings.log_format, settings.log_level, batched=True)
    log = logging.getLogger("newsmt.serve")
    from newsmt.models.registry import RegistryError
    from newsmt.server.app import create_server

    try:
        server, port = create_server(settings)
    except (SettingsError, RegistryError) as exc:
        print(f"newsmt serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info(
            "received %s: shutting down (grace %.0fs)",
            signal.Signals(signum).name,
            settings.shutdown_grace,
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()
    except SettingsError as exc:  # the metrics port is taken
        print(f"newsmt serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log.info("newsmt serving on %s:%d", settings.host, port)
    stop.wait()
    server.stop()
    # An engine call cut short by the grace may still be running in native code (CTranslate2,
    # torch); tearing the interpreter down under it can crash. Everything is flushed: leave.
    logging.shutdown()  # closes the handlers: the log writer writes what is queued
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_OK)
