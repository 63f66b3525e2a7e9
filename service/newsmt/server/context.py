"""The request context of the RPC being handled: its id and its RequestContext.

One module, imported by the call pipeline (`calls.py`, which sets both, for gRPC and HTTP
alike), the status mapping (which returns the id in trailing metadata), the servicers (which
read the RequestContext) and the log set-up (which stamps the id on every line). It imports
nothing else from the server.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from typing import Any

from newsmt.core.context import RequestContext

REQUEST_ID_KEY = "x-request-id"

#: Longest deadline honoured; a caller's "no deadline" becomes the server's default.
_MAX_TIMEOUT = 10 * 24 * 3600.0

#: The current RPC's request id ("" outside an RPC).
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "request_context", default=None
)


def incoming_request_id(metadata: Any) -> str:
    """The caller's `x-request-id` when it is short and printable, else a new one."""
    for key, value in metadata or ():
        if (
            key == REQUEST_ID_KEY
            and isinstance(value, str)
            and 0 < len(value) <= 128
            and value.isprintable()
        ):
            return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record made inside an RPC."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def open_request(
    request_id: str, client_timeout: float | None, default_timeout: float
) -> tuple[RequestContext, contextvars.Token[RequestContext | None]]:
    """The call's RequestContext, made current: the caller's deadline (`client_timeout`
    seconds from now), or the server default when the caller set none. The edge wires its
    cancellation (gRPC: the RPC's end; HTTP: the client hanging up)."""
    timeout = default_timeout if client_timeout is None else min(client_timeout, _MAX_TIMEOUT)
    ctx = RequestContext(timeout=timeout, request_id=request_id)
    return ctx, _current.set(ctx)


def close_request(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)


def current_request() -> RequestContext:
    ctx = _current.get()
    if ctx is None:  # pragma: no cover - a handler outside the interceptor is a wiring bug
        raise RuntimeError("no request context: the RequestInterceptor is not installed")
    return ctx
