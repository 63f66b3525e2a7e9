"""An HTTP request through the shared call pipeline (`server/calls.py`), on a worker thread.

The event loop only moves bytes. The call itself (the gate's checks, the request context,
the domain work, the access-log line and the metrics) runs on a worker thread, exactly as a
gRPC call runs on one of gRPC's, because the pipeline below blocks. Meanwhile the loop
watches the connection: a client that hangs up cancels the call's RequestContext, so that its
queued work leaves the model queues before it costs engine time, as for a cancelled RPC.

Credentials and the request id travel as the same metadata gRPC sees (`authorization: Bearer
<token>`, `x-request-id`), so that `TokenAuth`, the rate limiter and the logs cannot tell the
protocols apart; each API only says where its token is (a header, DeepL's
`DeepL-Auth-Key`, LibreTranslate's `api_key`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from starlette.requests import Request

from newsmt.core.context import RequestContext
from newsmt.core.errors import Internal, InvalidArgument, NewsmtError
from newsmt.core.safelog import describe
from newsmt.server.calls import Call, Gate
from newsmt.server.context import REQUEST_ID_KEY
from newsmt.server.http.protojson import TooLarge

log = logging.getLogger(__name__)

T = TypeVar("T")

#: gRPC's timeout header (`grpc-timeout: 30S`), which grpc-gateway and Envoy's transcoder
#: also turn into the call's deadline: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
TIMEOUT_HEADER = "grpc-timeout"
_TIMEOUT = re.compile(r"^(\d{1,8})([HMSmun])$")
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


class CallFailed(Exception):
    """A call that ended in a NewsmtError, with the request id its response must carry."""

    def __init__(self, error: NewsmtError, request_id: str) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


class Hangup:
    """Cancels a call's RequestContext when the client goes away, whether that happens
    before the worker has made the context or after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ctx: RequestContext | None = None
        self.fired = False

    def attach(self, ctx: RequestContext) -> None:
        with self._lock:
            self._ctx = ctx
            fired = self.fired
        if fired:
            ctx.cancel()

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            ctx = self._ctx
        if ctx is not None:
            ctx.cancel()


@dataclass
class Edge:
    """Runs calls for the HTTP routes: `run` for one response, `stream` for many."""

    gate: Gate
    executor: ThreadPoolExecutor

    async def run(
        self,
        request: Request,
        method: str,
        protocol: str,
        work: Callable[[Call], T],
        *,
        token: str | None = None,
        admission: bool = True,
        authenticate: bool = True,
    ) -> tuple[T, str]:
        """`work(call)` on a worker thread inside the call pipeline; returns its result and
        the request id, or raises CallFailed. The client hanging up meanwhile cancels it.
        `admission` and `authenticate` as for `Call.admit`."""
        hangup = Hangup()
        job: asyncio.Future[tuple[T, str]] = self._start(
            request, method, protocol, token, hangup, work, (admission, authenticate)
        )
        watch: asyncio.Future[None] = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait(
                [cast("asyncio.Future[Any]", job), watch], return_when=asyncio.FIRST_COMPLETED
            )
            if watch.done() and not watch.cancelled():
                hangup.fire()
            return await job
        finally:
            watch.cancel()

    async def stream(
        self,
        request: Request,
        method: str,
        protocol: str,
        work: Callable[[Call], Any],
        *,
        token: str | None = None,
    ) -> tuple[AsyncIterator[bytes | NewsmtError], str]:
        """`work(call)` yields chunks of the response on a worker thread (admission held
        until it ends). Waits for the first chunk, so that a call refused or failing at once
        is still answered with its own HTTP status (raises CallFailed); then returns the
        chunks as they come, a NewsmtError last if the work failed after the first, and the
        request id. The client hanging up, or the iterator being closed, cancels the work."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        hangup = Hangup()

        def put(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def produce(call: Call) -> None:
            put("id", call.request_id)
            for chunk in work(call):
                if hangup.fired:
                    return
                put("data", chunk)

        def finish(job: asyncio.Future[Any]) -> None:
            error = job.exception()
            if isinstance(error, CallFailed):
                queue.put_nowait(("error", error))
            queue.put_nowait(("end", None))

        job = self._start(request, method, protocol, token, hangup, produce, (True, True))
        job.add_done_callback(finish)
        watch = asyncio.ensure_future(_disconnected(request))
        watch.add_done_callback(lambda w: None if w.cancelled() else hangup.fire())

        request_id = ""
        kind, value = await queue.get()
        if kind == "id":
            request_id = value
            kind, value = await queue.get()
        if kind == "error":
            watch.cancel()
            raise value
        first = (kind, value)

        async def chunks() -> AsyncIterator[bytes | NewsmtError]:
            item = first
            try:
                while item[0] != "end":
                    kind, value = item
                    yield value.error if kind == "error" else value
                    item = await queue.get()
            finally:
                hangup.fire()  # a no-op once the work is done
                watch.cancel()

        return chunks(), request_id

    def _start(
        self,
        request: Request,
        method: str,
        protocol: str,
        token: str | None,
        hangup: Hangup,
        work: Callable[[Call], T],
        checks: tuple[bool, bool],
    ) -> asyncio.Future[tuple[T, str]]:
        """`_call` on a worker thread."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(
            self.executor, self._call, request, method, protocol, token, hangup, work, checks
        )

    def _call(
        self,
        request: Request,
        method: str,
        protocol: str,
        token: str | None,
        hangup: Hangup,
        work: Callable[[Call], T],
        checks: tuple[bool, bool],
    ) -> tuple[T, str]:
        call = Call(
            self.gate,
            method,
            protocol=protocol,
            metadata=metadata(request, token),
            peer=lambda: peer(request),
        )
        try:
            try:
                call.admit(admission=checks[0], authenticate=checks[1])
                ctx = call.open(client_timeout(request))
                hangup.attach(ctx)
                return work(call), call.request_id
            except NewsmtError as exc:
                call.fail(exc)
                raise CallFailed(exc, call.request_id) from None
            except Exception as exc:
                log.error("%s failed: %s", method, describe(exc))
                call.fail("INTERNAL")
                raise CallFailed(Internal("internal error"), call.request_id) from None
        finally:
            call.end()


# How much larger than the request it carries an HTTP body may be. JSON may escape every
# non-ASCII character (Python's json.dumps does by default: "\u0416", six bytes for two, and
# twelve for a four-byte emoji), a form percent-encodes it (six bytes for two), and JSON carries
# a file as base64 (four bytes for three). So a body may be this many times
# --max-message-bytes; what it decodes to is held to the same limits as a gRPC request.
ENCODING_ALLOWANCE = 3


def body_limit(max_message_bytes: int) -> int:
    """The largest HTTP body read for a request of at most `max_message_bytes`."""
    return max_message_bytes * ENCODING_ALLOWANCE


async def read_body(request: Request, limit: int) -> bytes | NewsmtError:
    """The request body, read up to `limit` bytes (`body_limit`): past that (or a
    Content-Length saying so) a TooLarge error instead, returned rather than raised so that the
    call reports it after the gate's checks (an unauthenticated caller learns nothing about the
    body rules)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return TooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _disconnected(request: Request) -> None:
    """Returns once the client has gone (the body, if any, has been read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def metadata(request: Request, token: str | None) -> list[tuple[str, str]]:
    """What gRPC would see as the call's metadata: the credentials and the request id."""
    pairs: list[tuple[str, str]] = []
    if token is not None:
        pairs.append(("authorization", f"Bearer {token}"))
    else:
        header = request.headers.get("authorization")
        if header is not None:
            pairs.append(("authorization", header))
    request_id = request.headers.get(REQUEST_ID_KEY)
    if request_id is not None:
        pairs.append((REQUEST_ID_KEY, request_id))
    return pairs


def peer(request: Request) -> str:
    """The client's address as gRPC writes a peer ("ipv4:127.0.0.1:5678"), so that one
    client has one rate-limit bucket whichever protocol it uses."""
    client = request.client
    if client is None:
        return "unknown"
    host, port = client.host, client.port
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


def client_timeout(request: Request) -> float | None:
    """The caller's deadline from `grpc-timeout` (None: the server default applies)."""
    value = request.headers.get(TIMEOUT_HEADER)
    if value is None:
        return None
    match = _TIMEOUT.match(value.strip())
    if match is None:
        raise InvalidArgument.field(
            TIMEOUT_HEADER, "must be up to 8 digits and a unit (H, M, S, m, u, n), e.g. 30S"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]
