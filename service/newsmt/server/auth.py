"""Bearer-token authentication and TLS credentials. Both off by default, one flag away."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from pathlib import Path

import grpc

from newsmt.core.errors import NewsmtError


class Unauthenticated(NewsmtError):
    """Missing or wrong credentials (UNAUTHENTICATED). Says which, never what was sent."""


class TokenAuth:
    """Accepts `authorization: Bearer <token>` for any of the configured tokens."""

    def __init__(self, tokens: list[str]) -> None:
        if not tokens or any(len(t) < 16 for t in tokens):
            raise ValueError("auth tokens must be at least 16 characters")
        self._tokens = [t.encode() for t in tokens]

    def check(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
        """The caller's identity (a token fingerprint) or Unauthenticated."""
        header = ""
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str):
                header = value
        scheme, _, presented = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not presented:
            raise Unauthenticated("missing bearer token (metadata `authorization: Bearer ...`)")
        given = presented.strip().encode()
        # Compare against every token, always, in constant time: no early exit to time.
        matches = [hmac.compare_digest(given, token) for token in self._tokens]
        if not any(matches):
            raise Unauthenticated("invalid bearer token")
        return f"token#{matches.index(True)}"


def load_tokens(path: Path) -> list[str]:
    """One token per line; blank lines and # comments ignored."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def server_credentials(cert: Path, key: Path, client_ca: Path | None) -> grpc.ServerCredentials:
    """TLS with `cert`/`key`; with `client_ca`, mutual TLS: clients must present a certificate
    signed by that CA."""
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca else None,
        require_client_auth=client_ca is not None,
    )
