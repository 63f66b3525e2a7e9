"""Cross-cutting RPC concerns: request ids, the access log line.

Every RPC gets a request id (the caller's `x-request-id`, or a new one). It is returned in the
trailing metadata, bound to a context variable for every log line of that RPC, and written in
one access-log line with the method, status and duration. Never the request text.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc

log = logging.getLogger("newsmt.access")

REQUEST_ID_KEY = "x-request-id"

#: The current RPC's request id ("" outside an RPC).
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def incoming_request_id(metadata: Any) -> str:
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


class RequestInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        request_id = incoming_request_id(handler_call_details.invocation_metadata)
        inner = handler.unary_unary

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            token = request_id_var.set(request_id)
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
            started = time.monotonic()
            code = "OK"
            try:
                return inner(request, context)
            except Exception:
                code = _code_name(context) or "INTERNAL"
                raise
            finally:
                log.info(
                    "%s %s %.1fms",
                    method,
                    code,
                    (time.monotonic() - started) * 1000,
                    extra={
                        "method": method,
                        "code": code,
                        "duration_ms": round((time.monotonic() - started) * 1000, 2),
                        "request_bytes": request.ByteSize(),
                    },
                )
                request_id_var.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_name(context: grpc.ServicerContext) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else ""
