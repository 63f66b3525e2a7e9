"""`newsmt health`: ask a server's health service; exit 0 only when SERVING (container probes)."""

from __future__ import annotations

import argparse
from typing import Any

from newsmt.cli._options import add_address, seconds
from newsmt.cli._tls import add_tls_flags, tls_from
from newsmt.cli.exitcodes import EXIT_FAILED, EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "health",
        help="check a server's gRPC health; exit 0 when SERVING",
        description="Query the standard grpc.health.v1 service. Prints the status and exits 0 "
        "when it is SERVING, 1 otherwise (NOT_SERVING, unknown service, or no answer). Used by "
        "the Dockerfile's HEALTHCHECK.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_address(parser, "server host:port")
    parser.add_argument(
        "--service",
        default="",
        help='service name, e.g. newsmt.v1.TranslationService; "" is the whole server',
    )
    parser.add_argument(
        "--timeout", type=seconds, default=3.0, help="seconds to wait for an answer"
    )
    add_tls_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from newsmt.client import Client, NewsmtError

    with Client(
        args.address, timeout=args.timeout, retries=0, credentials=tls_from(args)
    ) as client:
        try:
            status = client.health(args.service, timeout=args.timeout)
        except NewsmtError as exc:
            print(f"{args.address}: {exc.code.name}")
            return EXIT_FAILED
    print(f"{args.address}: {status}")
    return EXIT_OK if status == "SERVING" else EXIT_FAILED
