"""Turn a gRPC ServicerContext into the pipeline's RequestContext."""

from __future__ import annotations

import grpc

from newsmt.core.context import RequestContext
from newsmt.server.interceptors import request_id_var
from newsmt.server.settings import Settings


def request_context(context: grpc.ServicerContext, settings: Settings) -> RequestContext:
    """Deadline from the caller (or the server default), cancellation wired to the RPC."""
    remaining = context.time_remaining()
    timeout = settings.default_timeout if remaining is None else min(remaining, 10 * 24 * 3600)
    ctx = RequestContext(timeout=timeout, request_id=request_id_var.get())
    # Runs when the RPC ends for any reason; after a normal finish nothing is left to cancel.
    context.add_callback(ctx.cancel)
    return ctx
