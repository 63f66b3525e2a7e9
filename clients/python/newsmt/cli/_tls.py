"""TLS flags shared by the client-side commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_tls_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls", action="store_true", help="connect with TLS (system roots unless --tls-ca)"
    )
    parser.add_argument("--tls-ca", type=Path, default=None, help="PEM CA to trust (implies --tls)")
    parser.add_argument(
        "--tls-cert", type=Path, default=None, help="PEM client certificate, for mutual TLS"
    )
    parser.add_argument("--tls-key", type=Path, default=None, help="PEM key for --tls-cert")


def tls_from(args: argparse.Namespace) -> Any:
    if not (args.tls or args.tls_ca or args.tls_cert):
        return None
    from newsmt.client import tls_credentials

    return tls_credentials(args.tls_ca, args.tls_cert, args.tls_key)
