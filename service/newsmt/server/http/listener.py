"""The HTTP listener: one uvicorn server on its own thread and event loop, beside gRPC.

It serves, on `--http-port` of `--host` with the gRPC server's TLS settings:

    the native REST API           routes from the protos' google.api.http annotations
    GET /openapi.json             the OpenAPI 3 document of that API
    /v2/...                       the DeepL-compatible API
    /translate, /detect, ...      the LibreTranslate-compatible API
    GET /healthz, GET /readyz     live; ready once the models are warm and until draining
    GET /, GET /ui/...            the review page for editors (page/), on the native API

The socket is bound when the listener is made, so that a port in use fails `newsmt serve` at
start as the gRPC port does. `stop` is called by the server's drain after in-flight calls
have finished (or been ended): uvicorn stops accepting, closes idle connections and gives
responses still being written a moment to leave.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from newsmt.server.context import REQUEST_ID_KEY
from newsmt.server.http.edge import TIMEOUT_HEADER, Edge
from newsmt.server.http.native import Handler, NativeApi
from newsmt.server.http.openapi import document
from newsmt.server.http.page import page_routes
from newsmt.server.http.protojson import JSON, dumps
from newsmt.server.http.routes import Route as RpcRoute
from newsmt.server.settings import Settings, SettingsError

log = logging.getLogger(__name__)


@dataclass
class HttpApis:
    """What the listener serves, made by the server: the shared edge, the native routes and
    their handlers, readiness, and any further routes (the compatible APIs)."""

    edge: Edge
    routes: list[RpcRoute]
    handlers: dict[str, Handler]
    ready: Callable[[], bool]
    version: str
    extra: list[BaseRoute] = field(default_factory=list)


def build_app(settings: Settings, apis: HttpApis) -> Starlette:
    native = NativeApi(apis.edge, apis.routes, apis.handlers, settings.max_message_bytes)
    openapi = dumps(
        document(apis.routes, version=apis.version, auth=settings.auth_tokens_file is not None)
    )

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"SERVING"}', 200, media_type=JSON)

    async def readyz(request: Request) -> Response:
        if apis.ready():
            return Response(b'{"status":"SERVING"}', 200, media_type=JSON)
        return Response(b'{"status":"NOT_SERVING"}', 503, media_type=JSON)

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, 200, media_type=JSON)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *native.starlette_routes(),
        *apis.extra,
        *page_routes(),
    ]
    middleware = []
    origins = [o.strip() for o in settings.http_cors_origins.split(",") if o.strip()]
    if origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    REQUEST_ID_KEY,
                    TIMEOUT_HEADER,
                ],
                expose_headers=[REQUEST_ID_KEY, "Retry-After"],
                max_age=600,
            )
        )
    return Starlette(routes=routes, middleware=middleware)


class HttpListener:
    """uvicorn serving `app` on a socket bound now; `start` runs it on its own thread."""

    def __init__(self, settings: Settings, app: Starlette, executor: ThreadPoolExecutor) -> None:
        self.settings = settings
        self.executor = executor
        self._socket = _bind(settings.host, settings.http_port)
        self.port = int(self._socket.getsockname()[1])
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
        tls: dict[str, Any] = {}
        if settings.tls_cert is not None and settings.tls_key is not None:
            tls = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
            if settings.tls_client_ca is not None:
                tls["ssl_ca_certs"] = str(settings.tls_client_ca)
                tls["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,  # the call pipeline writes one line per call, without text
            lifespan="off",
            loop="asyncio",
            http="httptools",
            ws="none",
            # The peer is the socket's, as for gRPC: the rate limit's client identity must
            # not come from a header a client can write.
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
            h11_max_incomplete_event_size=64 * 1024,
            **tls,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="http-listener", daemon=True)

    @property
    def tls(self) -> bool:
        return self.settings.tls_cert is not None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def stop(self) -> None:
        """Stop accepting, close idle connections, let responses being written leave (up
        to a second), then stop the loop."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        else:
            self._socket.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _bind(host: str, port: int) -> socket.socket:
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise SettingsError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror}") from None
    # Accepted connections inherit it (Linux): a response written in two parts (headers, then
    # body) would otherwise wait for the client's delayed ACK, 40 ms per keep-alive request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
