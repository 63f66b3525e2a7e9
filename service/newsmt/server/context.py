"""The pipeline's RequestContext for the RPC being handled, made by the interceptor."""

from __future__ import annotations

import contextvars

import grpc

from newsmt.core.context import RequestContext

#: Longest deadline honoured; a caller's "no deadline" becomes the server's default.
_MAX_TIMEOUT = 10 * 24 * 3600.0

_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "request_context", default=None
)


def open_request(
    context: grpc.ServicerContext, request_id: str, default_timeout: float
) -> tuple[RequestContext, contextvars.Token[RequestContext | None]]:
    """Deadline from the caller (or the server default), cancellation wired to the RPC."""
    remaining = context.time_remaining()
    timeout = default_timeout if remaining is None else min(remaining, _MAX_TIMEOUT)
    ctx = RequestContext(timeout=timeout, request_id=request_id)
    # Runs when the RPC ends for any reason; after a normal finish nothing is left to cancel.
    context.add_callback(ctx.cancel)
    return ctx, _current.set(ctx)


def close_request(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)


def current_request() -> RequestContext:
    ctx = _current.get()
    if ctx is None:  # pragma: no cover - a handler outside the interceptor is a wiring bug
        raise RuntimeError("no request context: the RequestInterceptor is not installed")
    return ctx
