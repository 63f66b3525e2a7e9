"""What every RPC passes through before and after its handler, in one place.

In order: a request id (the caller's `x-request-id`, or a new one), returned in the trailing
metadata and bound to every log line of the RPC; then, for newsmt methods, the gate: bearer
token, draining (shutdown), per-client rate limit, admission control, and a request that could
not be decoded. Last, one access-log line: method, status, duration, sizes, languages. Never
the text.

The health service passes untouched by the gate: probes need no token and must still answer
NOT_SERVING while the server drains.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import grpc

from newsmt.core.context import RequestContext
from newsmt.core.errors import InvalidArgument, NewsmtError, ServiceUnavailable
from newsmt.core.languages import SUPPORTED, normalize
from newsmt.scheduler.admission import Admission
from newsmt.scheduler.ratelimit import RateLimiter
from newsmt.server.auth import TokenAuth
from newsmt.server.context import (
    REQUEST_ID_KEY,
    close_request,
    incoming_request_id,
    open_request,
    request_id_var,
)
from newsmt.server.status import abort, code_of

log = logging.getLogger("newsmt.access")

HEALTH_SERVICE = "grpc.health.v1.Health"

#: Called once per finished RPC: (method, status code name, seconds). Metrics hook in here.
RpcObserver = Callable[[str, str, float], None]


@dataclass
class Gate:
    """The checks a newsmt call passes before its handler runs."""

    admission: Admission
    auth: TokenAuth | None = None
    limiter: RateLimiter | None = None
    default_timeout: float = 120.0
    draining: bool = False
    observers: list[RpcObserver] = field(default_factory=list)
    #: The contexts of the requests in flight, so that shutdown can end them after its grace.
    live: weakref.WeakSet[RequestContext] = field(default_factory=weakref.WeakSet)

    def identity(self, metadata: Any, peer: Callable[[], str]) -> str:
        """Who is calling: the token's identity when auth is on, else the peer address
        (`peer` is asked only then)."""
        if self.auth is not None:
            return self.auth.check(metadata)
        address = peer()
        return address.rsplit(":", 1)[0] if address.count(":") >= 2 else address


class _Undecodable:
    """Stands in for a request whose bytes are not a valid message (invalid UTF-8, say)."""


class RequestInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        # One wrapped handler per method, made on its first call: everything that differs
        # between calls (metadata, request id) is read from the call's context.
        method: str = handler_call_details.method
        wrapped = self._handlers.get(method)
        if wrapped is None:
            handler = continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._handlers[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        service = method.split("/")[1] if method.count("/") >= 2 else ""
        if service == HEALTH_SERVICE:
            return handler
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._unary_stream(handler.unary_stream, method),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_unary is None:
            if handler.stream_stream is not None and self.gate.auth is not None:
                return self._authenticated_stream(handler)
            return handler
        return grpc.unary_unary_rpc_method_handler(
            self._unary(handler.unary_unary, method),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def _unary(
        self, inner: Callable[..., Any], method: str
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        gate = self.gate

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            call = _Call(gate, method, request, context)
            try:
                call.admit()
                ctx, ctx_token = open_request(context, call.request_id, gate.default_timeout)
                gate.live.add(ctx)
                try:
                    response = inner(request, context)
                    call.response_size = response.ByteSize()
                    return response
                except Exception:
                    call.code = _context_code(context) or "INTERNAL"
                    raise
                finally:
                    close_request(ctx_token)
            finally:
                call.end()

        return behavior

    def _unary_stream(
        self, inner: Callable[..., Any], method: str
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        """As `_unary`, for a server-streaming method: the gate before the first message,
        admission held (and the request context open) until the stream ends."""
        gate = self.gate

        def behavior(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            call = _Call(gate, method, request, context)
            try:
                call.admit()
                ctx, ctx_token = open_request(context, call.request_id, gate.default_timeout)
                gate.live.add(ctx)
                try:
                    for message in inner(request, context):
                        call.response_size += message.ByteSize()
                        yield message
                except GeneratorExit:
                    call.code = "CANCELLED"
                    ctx.cancel()
                    raise
                except Exception:
                    call.code = _context_code(context) or "INTERNAL"
                    raise
                finally:
                    close_request(ctx_token)
            finally:
                call.end()

        return behavior
        return behavior

    def _authenticated_stream(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """Reflection (a stream) needs the token too."""
        gate = self.gate
        inner = handler.stream_stream

        def behavior(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:

            try:
                gate.identity(context.invocation_metadata(), context.peer)
            except NewsmtError as exc:
                abort(context, exc)
            yield from inner(requests, context)

        return grpc.stream_stream_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _Call:
    """One RPC through the gate: admission on the way in, the access-log line, the
    observers and the request id's reset on the way out."""

    def __init__(
        self, gate: Gate, method: str, request: Any, context: grpc.ServicerContext
    ) -> None:
        self.gate = gate
        self.method = method
        self.request = request
        self.context = context
        self.metadata = context.invocation_metadata()
        self.request_id = incoming_request_id(self.metadata)
        self._token = request_id_var.set(self.request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, self.request_id),))
        self.started = time.monotonic()
        self.code = "OK"
        self.admitted = False
        self.response_size = 0

    def admit(self) -> None:
        """The gate's checks; a refusal aborts the RPC with its status."""
        gate, context = self.gate, self.context
        try:
            # Who calls matters to the token check and the per-client rate limit only.
            client = ""
            if gate.auth is not None or gate.limiter is not None:
                client = gate.identity(self.metadata, context.peer)
            if gate.draining:
                raise ServiceUnavailable("server is shutting down; retry on another replica")
            if gate.limiter is not None:
                gate.limiter.check(client)
            gate.admission.enter()
            self.admitted = True
            if isinstance(self.request, _Undecodable):
                raise InvalidArgument.field(
                    "", "the request is not a valid protobuf message (invalid UTF-8?)"
                )
        except NewsmtError as exc:
            self.code = _code_of(exc)
            abort(context, exc)

    def end(self) -> None:
        gate, request, method, code = self.gate, self.request, self.method, self.code
        if self.admitted:
            gate.admission.leave()
        seconds = time.monotonic() - self.started
        undecodable = isinstance(request, _Undecodable)
        size = 0 if undecodable else request.ByteSize()
        langs = "" if undecodable else _languages(request)
        log.info(
            "%s %s %.1fms %s",
            method,
            code,
            seconds * 1000,
            langs,
            extra={
                "method": method,
                "code": code,
                "duration_ms": round(seconds * 1000, 2),
                "request_bytes": size,
                "response_bytes": self.response_size,
                "languages": langs,
            },
        )
        for observer in gate.observers:
            observer(method, code, seconds)
        request_id_var.reset(self._token)


_LANGUAGE_FIELDS = (
    "source_language_code",
    "target_language_code",
    "target_language_codes",
    "summary_language_codes",
)


def _languages(request: Any) -> str:
    """The request's language codes as "source->target,target": only codes newsmt serves are
    written as sent; anything else is "?" (a caller's free text never reaches the log)."""
    fields = _language_fields.get(type(request))
    if fields is None:
        names = getattr(getattr(request, "DESCRIPTOR", None), "fields_by_name", {})
        fields = _language_fields[type(request)] = [f for f in _LANGUAGE_FIELDS if f in names]
    found: dict[str, list[str]] = {}
    for name in fields:
        value = getattr(request, name)
        codes = [value] if isinstance(value, str) else list(value)
        found[name] = [_known(c) for c in codes if c]
    source = ",".join(found.get("source_language_code", [])) or "auto"
    targets = found.get("target_language_code", []) + found.get("target_language_codes", [])
    out = f"{source}->{','.join(targets)}" if targets else ""
    if found.get("summary_language_codes"):
        out += f" summary:{','.join(found['summary_language_codes'])}"
    return out


#: The language fields each request message type has, found once per type.
_language_fields: dict[type, list[str]] = {}


def _known(code: str) -> str:
    normalized = normalize(code)
    return normalized if normalized in SUPPORTED else "?"


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A deserializer that hands the handler a marker instead of failing inside grpc (which
    would answer INTERNAL): the gate turns it into INVALID_ARGUMENT."""
    if deserialize is None:
        return None

    def tolerant(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:
            return _Undecodable()

    return tolerant


def _code_of(error: NewsmtError) -> str:

    return cast(str, code_of(error).name)  # grpc is untyped


def _context_code(context: grpc.ServicerContext) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else ""
