"""The gRPC edge of the call pipeline (`calls.py`): every newsmt RPC runs as a `Call`.

In order: a request id (the caller's `x-request-id`, or a new one), returned in the trailing
metadata and bound to every log line of the RPC; then the gate: bearer token, draining
(shutdown), per-client rate limit, admission control, and a request that could not be
decoded. Last, one access-log line: method, status, duration, sizes, languages. Never the
text. A refusal aborts the RPC with its status (`status.abort`); the HTTP listener runs the
same `Call` and answers with the same status as JSON.

The health service passes untouched by the gate: probes need no token and must still answer
NOT_SERVING while the server drains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

from newsmt.core.errors import InvalidArgument, NewsmtError
from newsmt.server.calls import GRPC, Call, Gate
from newsmt.server.context import REQUEST_ID_KEY
from newsmt.server.status import abort

__all__ = ["HEALTH_SERVICE", "Gate", "RequestInterceptor"]

HEALTH_SERVICE = "grpc.health.v1.Health"


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
            call = _start(gate, method, request, context)
            try:
                _wire(call, context)
                try:
                    response = inner(request, context)
                    call.response_size = response.ByteSize()
                    return response
                except Exception:
                    call.fail(_context_code(context) or "INTERNAL")
                    raise
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
            call = _start(gate, method, request, context)
            try:
                ctx = _wire(call, context)
                try:
                    for message in inner(request, context):
                        call.response_size += message.ByteSize()
                        yield message
                except GeneratorExit:
                    call.fail("CANCELLED")
                    ctx.cancel()
                    raise
                except Exception:
                    call.fail(_context_code(context) or "INTERNAL")
                    raise
            finally:
                call.end()

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


def _start(gate: Gate, method: str, request: Any, context: grpc.ServicerContext) -> Call:
    call = Call(
        gate, method, protocol=GRPC, metadata=context.invocation_metadata(), peer=context.peer
    )
    if not isinstance(request, _Undecodable):
        call.request = request
    context.set_trailing_metadata(((REQUEST_ID_KEY, call.request_id),))
    return call


def _wire(call: Call, context: grpc.ServicerContext) -> Any:
    """Admit the call (a refusal aborts the RPC with its status) and open its request context,
    with the caller's deadline and cancelled when the RPC ends."""
    try:
        call.admit()
        if call.request is None:
            raise InvalidArgument.field(
                "", "the request is not a valid protobuf message (invalid UTF-8?)"
            )
    except NewsmtError as exc:
        call.fail(exc)
        abort(context, exc)
    ctx = call.open(context.time_remaining())
    # Runs when the RPC ends for any reason; after a normal finish nothing is left to cancel.
    context.add_callback(ctx.cancel)
    return ctx


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


def _context_code(context: grpc.ServicerContext) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else ""
