"""Assemble the HTTP side of a NewsmtServer: the edge, the routes, the APIs, the listener.

Everything is shared with gRPC: the gate (tokens, rate limits, admission, draining), the
servicers (validation, limits, the pipeline and its models), the metrics (through the gate's
observers) and the logs. The only things of its own are worker threads for the calls, the
document job workers and the job store.

Where TranslateDocument plugs in: `documents` below. A translator for its formats (see
`documents.DocumentTranslator`) goes first in the list; DeepL's /v2/document and
LibreTranslate's /translate_file then take those files too, with nothing else to change.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from newsmt.server.calls import DEEPL, Gate
from newsmt.server.http.deepl import DeepLApi, on_document_done
from newsmt.server.http.documents import Documents, FileDocuments
from newsmt.server.http.edge import Edge
from newsmt.server.http.jobs import DocumentJobs, JobStore, MemoryJobStore
from newsmt.server.http.libretranslate import LibreTranslateApi
from newsmt.server.http.listener import HttpApis, HttpListener, build_app
from newsmt.server.http.routes import routes
from newsmt.server.servicers import (
    ArticleServicer,
    SummarizationServicer,
    TranslationServicer,
)
from newsmt.server.settings import Settings
from newsmt.server.status import NO_RPC
from newsmt.v1 import article_pb2, summarization_pb2, translation_pb2

log = logging.getLogger(__name__)

#: The protos whose annotated RPCs the native API serves.
PROTO_FILES = (translation_pb2.DESCRIPTOR, summarization_pb2.DESCRIPTOR, article_pb2.DESCRIPTOR)


class Servicers(Protocol):
    """The server's servicers (`app.Servicers`), shared with gRPC."""

    @property
    def translation(self) -> TranslationServicer: ...

    @property
    def summarization(self) -> SummarizationServicer: ...

    @property
    def article(self) -> ArticleServicer: ...


def open_store(url: str, max_bytes: int) -> JobStore:
    """The store `--job-store` names: `memory`, or a redis:// URL."""
    if url == "memory":
        return MemoryJobStore(max_bytes)
    from newsmt.server.http.redis_store import RedisJobStore

    return RedisJobStore(url, max_bytes)


def _version() -> str:
    try:
        return importlib.metadata.version("newsmt")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


class HttpServer:
    """The HTTP side of a server: `settings`, its `gate` and `servicers`, `workers` threads
    for the calls (as many as gRPC has), and `ready` for /readyz."""

    def __init__(
        self,
        settings: Settings,
        gate: Gate,
        servicers: Servicers,
        *,
        workers: int,
        ready: Callable[[], bool],
    ) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="http")
        edge = Edge(gate, self.executor)
        by_service = {
            translation_pb2.DESCRIPTOR.services_by_name["TranslationService"].full_name: (
                servicers.translation
            ),
            summarization_pb2.DESCRIPTOR.services_by_name["SummarizationService"].full_name: (
                servicers.summarization
            ),
            article_pb2.DESCRIPTOR.services_by_name["ArticleService"].full_name: servicers.article,
        }
        native = routes(PROTO_FILES)
        handlers = {
            route.rpc: getattr(
                by_service[route.method.containing_service.full_name], route.method.name
            )
            for route in native
        }
        documents = Documents([FileDocuments(servicers.translation)])
        self.store = open_store(settings.job_store, settings.job_store_max_bytes)
        self.jobs = DocumentJobs(
            self.store,
            documents,
            gate,
            workers=settings.document_workers,
            max_queued=settings.max_queued_documents,
            ttl_s=settings.job_ttl_s,
            method="/v2/document",
            protocol=DEEPL,
        )
        self.jobs.on_done = on_document_done(self.jobs)

        def pairs() -> list[tuple[str, str]]:
            response = servicers.translation.ListLanguages(
                translation_pb2.ListLanguagesRequest(), NO_RPC
            )
            return [(p.source_language_code, p.target_language_code) for p in response.pairs]

        deepl = DeepLApi(settings, edge, servicers.translation, self.jobs, pairs)
        libre = LibreTranslateApi(settings, edge, servicers.translation, self.jobs, pairs)
        apis = HttpApis(
            edge=edge,
            routes=native,
            handlers=handlers,
            ready=ready,
            version=_version(),
            extra=[*deepl.starlette_routes(), *libre.starlette_routes()],
        )
        self.listener = HttpListener(settings, build_app(settings, apis), self.executor)
        self.port = self.listener.port
        self.tls = self.listener.tls

    def start(self) -> None:
        self.listener.start()

    def stop_jobs(self) -> None:
        """The drain: fail queued document jobs (running ones are calls in flight)."""
        self.jobs.close()

    def stop(self) -> None:
        self.listener.stop()
        self.store.close()
