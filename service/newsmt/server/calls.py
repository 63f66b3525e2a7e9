"""What every newsmt call passes through, whatever protocol brought it: one policy, two edges.

The gRPC interceptor (`interceptors.py`) and the HTTP listener (`http/`) both run a call as

    call = Call(gate, method, protocol=..., metadata=..., peer=...)   # request id bound
    call.admit()            # token, draining, per-client rate limit, admission: or NewsmtError
    ctx = call.open(client_timeout)   # deadline, cancellation, the RequestContext of the call
    ... the handler ...
    call.close(); call.end()          # admission left, one access-log line, the observers

so that authentication, rate limits, admission, deadlines, request ids, the access log and
the metrics are the same code for both. Each edge only maps a refusal (a NewsmtError) to its
own wire: `status.abort` for gRPC, a `google.rpc.Status` JSON body for HTTP. Never the text.
"""

from __future__ import annotations

import contextvars
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from newsmt.core.context import RequestContext
from newsmt.core.errors import NewsmtError, ServiceUnavailable
from newsmt.core.languages import SUPPORTED, normalize
from newsmt.scheduler.admission import Admission
from newsmt.scheduler.ratelimit import RateLimiter
from newsmt.server.auth import TokenAuth
from newsmt.server.context import (
    close_request,
    incoming_request_id,
    open_request,
    request_id_var,
)
from newsmt.server.status import code_of

log = logging.getLogger("newsmt.access")

#: The `protocol` label of the metrics and the access log.
GRPC = "grpc"
HTTP = "http"  # the native REST API (routes from the protos' google.api.http annotations)
DEEPL = "deepl"
LIBRETRANSLATE = "libretranslate"

#: Called once per finished call: (method, status code name, seconds, protocol).
CallObserver = Callable[[str, str, float, str], None]

Metadata = Iterable[tuple[str, str | bytes]]


@dataclass
class Gate:
    """The checks a newsmt call passes before its handler runs, and what is shared by every
    call in flight."""

    admission: Admission
    auth: TokenAuth | None = None
    limiter: RateLimiter | None = None
    default_timeout: float = 120.0
    draining: bool = False
    observers: list[CallObserver] = field(default_factory=list)
    #: The contexts of the requests in flight, so that shutdown can end them after its grace.
    live: weakref.WeakSet[RequestContext] = field(default_factory=weakref.WeakSet)

    def identity(self, metadata: Metadata | None, peer: Callable[[], str]) -> str:
        """Who is calling: the token's identity when auth is on, else the peer address
        (`peer` is asked only then)."""
        if self.auth is not None:
            return self.auth.check(metadata)
        return peer_host(peer())


def peer_host(address: str) -> str:
    """The host of a peer address ("ipv4:1.2.3.4:5678" -> "ipv4:1.2.3.4")."""
    return address.rsplit(":", 1)[0] if address.count(":") >= 2 else address


class Call:
    """One call through the gate: admission on the way in, the request context while the
    handler runs, and the access-log line, the observers and the request id's reset on the
    way out. Made, admitted, opened, closed and ended on the thread that runs the handler."""

    def __init__(
        self,
        gate: Gate,
        method: str,
        *,
        protocol: str,
        metadata: Metadata | None,
        peer: Callable[[], str],
    ) -> None:
        self.gate = gate
        self.method = method
        self.protocol = protocol
        self.metadata = metadata
        self.peer = peer
        self.request_id = incoming_request_id(metadata)
        self._id_token = request_id_var.set(self.request_id)
        self._ctx_token: contextvars.Token[RequestContext | None] | None = None
        self.started = time.monotonic()
        self.code = "OK"
        self.admitted = False
        #: Who is calling (token identity or peer host); set by `admit` when auth or a rate
        #: limit needed it.
        self.client = ""
        #: The request message, once decoded: its size and language codes go in the access
        #: log (never its text).
        self.request: Any = None
        self.response_size = 0

    def admit(self, *, admission: bool = True, authenticate: bool = True) -> None:
        """The gate's checks, in order: credentials, draining, the caller's rate limit,
        admission. `admission=False` for calls that do no model work (a document job's
        status); `authenticate=False` for the few public answers of the compatible APIs
        (LibreTranslate's language list, as LibreTranslate serves it without a key), which
        are rate-limited by address. A refusal is raised (and recorded as the call's code)."""
        gate = self.gate
        try:
            # Who calls matters to the token check and the per-client rate limit only.
            if gate.auth is not None or gate.limiter is not None:
                self.client = (
                    gate.identity(self.metadata, self.peer)
                    if authenticate
                    else peer_host(self.peer())
                )
            if gate.draining:
                raise ServiceUnavailable("server is shutting down; retry on another replica")
            if gate.limiter is not None:
                gate.limiter.check(self.client)
            if admission:
                gate.admission.enter()
                self.admitted = True
        except NewsmtError as exc:
            self.fail(exc)
            raise

    def enter(self) -> None:
        """Admission alone, for work the server does on its own behalf after a call was
        admitted (a queued document job): refused while draining or at capacity."""
        try:
            if self.gate.draining:
                raise ServiceUnavailable("server is shutting down")
            self.gate.admission.enter()
            self.admitted = True
        except NewsmtError as exc:
            self.fail(exc)
            raise

    def open(self, client_timeout: float | None) -> RequestContext:
        """The call's RequestContext: the caller's deadline (or the server default), current
        for the handler, and known to shutdown, which may end it after its grace."""
        ctx, self._ctx_token = open_request(
            self.request_id, client_timeout, self.gate.default_timeout
        )
        self.gate.live.add(ctx)
        return ctx

    def close(self) -> None:
        """The handler is done: its RequestContext is no longer current."""
        if self._ctx_token is not None:
            close_request(self._ctx_token)
            self._ctx_token = None

    def fail(self, error: NewsmtError | str) -> None:
        """Record how the call ended: an error, or a status code name."""
        self.code = error if isinstance(error, str) else str(code_of(error).name)

    def end(self) -> None:
        """Leave admission, write the access-log line, tell the observers."""
        self.close()
        gate, method, code = self.gate, self.method, self.code
        if self.admitted:
            gate.admission.leave()
            self.admitted = False
        seconds = time.monotonic() - self.started
        request = self.request
        size = request.ByteSize() if hasattr(request, "ByteSize") else 0
        langs = languages(request) if request is not None else ""
        log.info(
            "%s %s %s %.1fms %s",
            self.protocol,
            method,
            code,
            seconds * 1000,
            langs,
            extra={
                "request_id": self.request_id,
                "protocol": self.protocol,
                "method": method,
                "code": code,
                "duration_ms": round(seconds * 1000, 2),
                "request_bytes": size,
                "response_bytes": self.response_size,
                "languages": langs,
            },
        )
        for observer in gate.observers:
            observer(method, code, seconds, self.protocol)
        request_id_var.reset(self._id_token)


_LANGUAGE_FIELDS = (
    "source_language_code",
    "target_language_code",
    "target_language_codes",
    "summary_language_codes",
)


def languages(request: Any) -> str:
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
