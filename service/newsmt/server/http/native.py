"""The native REST API: each annotated RPC at its route, JSON in, the servicer's method, JSON out.

A request is the RPC's request message in the proto3 JSON mapping (the body for `body: "*"`,
the query string for a route without a body); the response is its response message, or a
`google.rpc.Status` with its details and the HTTP status of the standard mapping. The
handler is the servicer's own method, called with `NO_RPC`, so validation, limits and the
domain calls are exactly gRPC's.

A server-streaming RPC answers newline-delimited JSON (`application/x-ndjson`), one message
per line, or Server-Sent Events (`data: <message>` per event) when the client accepts
`text/event-stream`. A failure after the first message ends the stream with one more line,
`{"error": <google.rpc.Status>}` (SSE: an `error` event), since the HTTP status is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from newsmt.core.errors import NewsmtError
from newsmt.server.calls import HTTP, Call
from newsmt.server.context import REQUEST_ID_KEY
from newsmt.server.http.edge import CallFailed, Edge, body_limit, read_body
from newsmt.server.http.protojson import (
    JSON,
    TooLarge,
    UnsupportedMediaType,
    error_headers,
    is_json,
    parse_message,
    parse_query,
    status_json,
    status_of,
    to_json,
)
from newsmt.server.http.routes import Route
from newsmt.server.status import NO_RPC

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"

Handler = Callable[[Any, Any], Any]


def error_response(error: NewsmtError, request_id: str = "") -> Response:
    """A failure as the native API answers it: google.rpc.Status JSON, mapped status."""
    headers = error_headers(error)
    if request_id:
        headers[REQUEST_ID_KEY] = request_id
    return Response(status_json(error), status_of(error), headers, media_type=JSON)


class NativeApi:
    """The Starlette routes of the annotated RPCs."""

    def __init__(
        self, edge: Edge, routes: list[Route], handlers: Mapping[str, Handler], max_message: int
    ) -> None:
        self.edge = edge
        self.max_message = max_message
        self._routes = routes
        self._handlers = handlers

    def starlette_routes(self) -> list[StarletteRoute]:
        out = []
        for route in self._routes:
            handler = self._handlers[route.rpc]
            endpoint = self._streaming if route.streaming else self._unary
            out.append(
                StarletteRoute(
                    route.starlette_path,
                    _bind(endpoint, route, handler),
                    methods=[route.verb],
                    name=route.method.full_name,
                )
            )
        return out

    async def _request(self, request: Request, route: Route) -> Message | NewsmtError:
        """The RPC's request message from the HTTP request, or why it cannot be made."""
        try:
            if route.body == "":
                params = {k: request.query_params.getlist(k) for k in request.query_params}
                message = parse_query(params, route.request_type)
            else:
                body = await read_body(request, body_limit(self.max_message))
                if isinstance(body, NewsmtError):
                    return body
                if body.strip() and not is_json(request.headers.get("content-type", "")):
                    return UnsupportedMediaType("application/json (UTF-8)")
                message = parse_message(body, route.request_type)
                if message.ByteSize() > self.max_message:  # as gRPC would measure it
                    return TooLarge(self.max_message, "the request")
        except NewsmtError as exc:
            return exc
        for name, value in request.path_params.items():
            setattr(message, name, value)
        return message

    async def _unary(self, request: Request, route: Route, handler: Handler) -> Response:
        message = await self._request(request, route)

        def work(call: Call) -> bytes:
            if isinstance(message, NewsmtError):
                raise message
            call.request = message
            response = handler(message, NO_RPC)
            call.response_size = response.ByteSize()
            return to_json(response)

        try:
            body, request_id = await self.edge.run(request, route.rpc, HTTP, work)
        except CallFailed as failed:
            return error_response(failed.error, failed.request_id)
        return Response(body, 200, {REQUEST_ID_KEY: request_id}, media_type=JSON)

    async def _streaming(self, request: Request, route: Route, handler: Handler) -> Response:
        message = await self._request(request, route)
        sse = SSE in request.headers.get("accept", "")

        def work(call: Call) -> Iterator[bytes]:
            if isinstance(message, NewsmtError):
                raise message
            call.request = message
            for event in handler(message, NO_RPC):
                call.response_size += event.ByteSize()
                yield _event(to_json(event), sse)

        try:
            chunks, request_id = await self.edge.stream(request, route.rpc, HTTP, work)
        except CallFailed as failed:
            return error_response(failed.error, failed.request_id)
        return ChunkedResponse(chunks, SSE if sse else NDJSON, {REQUEST_ID_KEY: request_id}, sse)


def _bind(
    endpoint: Callable[[Request, Route, Handler], Any], route: Route, handler: Handler
) -> Callable[[Request], Any]:
    async def bound(request: Request) -> Response:
        response: Response = await endpoint(request, route, handler)
        return response

    return bound


def _event(data: bytes, sse: bool, kind: str = "") -> bytes:
    if not sse:
        return data + b"\n"
    head = f"event: {kind}\n".encode() if kind else b""
    return head + b"data: " + data + b"\n\n"


class ChunkedResponse(StreamingResponse):
    """A 200 whose body is the chunks of a running call, each sent as it comes; a failure
    after the first ends it with the status as its last line (or SSE `error` event)."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes | NewsmtError],
        media_type: str,
        headers: dict[str, str],
        sse: bool,
    ) -> None:
        super().__init__((), 200, {**headers, "cache-control": "no-cache"}, media_type)
        self.chunks = chunks
        self.sse = sse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for item in self.chunks:
                if isinstance(item, NewsmtError):
                    error = status_json(item)
                    body = (
                        _event(error, True, "error") if self.sse else b'{"error":' + error + b"}\n"
                    )
                else:
                    body = item
                await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client is gone: closing the chunks below cancels the call
        finally:
            await self.chunks.aclose()  # type: ignore[attr-defined]
