"""Assemble the server: settings -> models -> pipeline -> servicers -> grpc.Server.

server, port = create_server(settings)   # tests bind port 0
server.start()
server.wait_until_ready(timeout=60)
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from newsmt.core.errors import ServiceUnavailable
from newsmt.engines.base import EngineOptions
from newsmt.models.calibration import Calibration, CalibrationError, load_server_calibration
from newsmt.models.pool import ModelPool
from newsmt.models.registry import Registry
from newsmt.models.store import ModelStore
from newsmt.pipeline.article import ArticleProcessor
from newsmt.pipeline.cache import TranslationCache
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.detect import LanguageDetection
from newsmt.pipeline.summarize import Summarizer
from newsmt.pipeline.translate import Translator
from newsmt.scheduler.admission import Admission
from newsmt.scheduler.batcher import BatcherConfig
from newsmt.scheduler.ratelimit import RateLimiter
from newsmt.server.auth import TokenAuth, load_tokens, server_credentials
from newsmt.server.calls import Gate
from newsmt.server.cpu import usable_cpus
from newsmt.server.http.server import HttpServer
from newsmt.server.interceptors import RequestInterceptor
from newsmt.server.metrics import Metrics
from newsmt.server.servicers import ArticleServicer, SummarizationServicer, TranslationServicer
from newsmt.server.settings import Settings, SettingsError
from newsmt.v1 import (
    article_pb2,
    article_pb2_grpc,
    summarization_pb2,
    summarization_pb2_grpc,
    translation_pb2,
    translation_pb2_grpc,
)

log = logging.getLogger(__name__)

TRANSLATION = translation_pb2.DESCRIPTOR.services_by_name["TranslationService"].full_name
SUMMARIZATION = summarization_pb2.DESCRIPTOR.services_by_name["SummarizationService"].full_name
ARTICLE = article_pb2.DESCRIPTOR.services_by_name["ArticleService"].full_name
SERVICES = (TRANSLATION, SUMMARIZATION, ARTICLE)

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass(frozen=True)
class Servicers:
    """The handlers of the newsmt services, shared by the gRPC server and the HTTP listener."""

    translation: TranslationServicer
    summarization: SummarizationServicer
    article: ArticleServicer


@dataclass(frozen=True)
class Threads:
    intra: int
    inter: int
    grpc_workers: int


def default_inter_threads(cpus: int) -> int:
    """Engine calls per model when `--inter-threads` is 0: 2 where 2 or more CPUs are usable,
    else 1. CTranslate2 runs them on one copy of the weights (docs/parallel.md: "the model
    weights are shared to save on memory"), so the cost is one more call's decoding memory;
    on 2 CPUs two single-thread calls decode nearly twice what one call does (bench (a))."""
    return 2 if cpus >= 2 else 1


def default_intra_threads(cpus: int, inter_threads: int = 1) -> int:
    """Threads per engine call when `--intra-threads` is 0: the usable CPUs divided among the
    `inter_threads` calls (at least 1). A lone call gets every CPU but one: that CPU runs this
    process's own work while the call decodes (gRPC, tokenization, the pipeline), which would
    otherwise stall the call's threads at every barrier; on 2 CPUs one thread per call is as
    fast as two at batch 16 and twice as fast for a lone sentence (docs/PERFORMANCE.md, (a))."""
    if inter_threads <= 1:
        return max(1, cpus - 1)
    return max(1, cpus // inter_threads)


def plan_threads(settings: Settings, cpus: int | None = None) -> Threads:
    """Thread counts from settings, defaulting to `default_inter_threads` and
    `default_intra_threads`; refuse oversubscription."""
    cpus = cpus or usable_cpus()
    inter = settings.inter_threads or default_inter_threads(cpus)
    intra = settings.intra_threads or default_intra_threads(cpus, inter)
    if intra * inter > cpus:
        raise SettingsError(
            f"intra_threads ({intra}) x inter_threads ({inter}) = "
            f"{intra * inter} engine threads, but this process may use only "
            f"{cpus} CPU(s) (affinity and cgroup quota): it would oversubscribe them. Lower "
            "--intra-threads or --inter-threads."
        )
    workers = settings.grpc_workers or settings.max_inflight_requests + 8
    return Threads(intra, inter, workers)


def check_port_free(host: str, port: int, flag: str) -> None:
    """SettingsError naming `flag` when something already listens on host:port (0: any port
    will do). Checked before gRPC binds, whose own failure also logs a C-core error line."""
    if port <= 0:
        return
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError:
        return  # an unresolvable host: the bind reports it
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds
            try:
                probe.bind(address)
            except OSError as exc:
                raise SettingsError(
                    f"{flag} {port}: cannot listen on {_listen_address(host, port)} "
                    f"({exc.strerror or exc}); pick another {flag}"
                ) from None


class NewsmtServer:
    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        check_port_free(settings.host, settings.port, "--port")
        if settings.metrics_port != settings.port:
            check_port_free(settings.host, settings.metrics_port, "--metrics-port")
        self.settings = settings
        self.registry = registry or Registry.load(settings.registry)
        self.threads = plan_threads(settings)
        self.metrics = Metrics()
        self.metrics_port: int | None = None
        try:
            calibration = load_server_calibration(settings.calibration, settings.model_dir)
        except CalibrationError as exc:
            raise SettingsError(f"calibration: {exc}") from None
        self.pool = self._model_pool(calibration)
        self.detector = LanguageDetection()
        config = PipelineConfig(max_sentence_tokens=settings.max_sentence_tokens)
        self.cache = TranslationCache(settings.cache_bytes)
        # ProcessArticle fans out into stages (one per target language, one per summary), and
        # streams run their submissions here.
        self._stage_pool = futures.ThreadPoolExecutor(
            max_workers=settings.max_inflight_requests * 4, thread_name_prefix="stage"
        )
        self.translator = Translator(
            self.pool, self.detector, config, cache=self.cache, stages=self._stage_pool
        )
        self.summarizer = Summarizer(self.pool, self.translator, self.detector, config)
        self.articles = ArticleProcessor(
            self.translator, self.summarizer, self.detector, self._stage_pool
        )
        self.health = health.HealthServicer(experimental_non_blocking=True)
        self._ready = threading.Event()
        self.admission = Admission(settings.max_inflight_requests)
        self.gate = Gate(
            admission=self.admission,
            default_timeout=settings.default_timeout,
            auth=TokenAuth(load_tokens(settings.auth_tokens_file))
            if settings.auth_tokens_file
            else None,
            limiter=(
                RateLimiter(settings.rate_limit_rps, settings.rate_limit_burst)
                if settings.rate_limit_rps > 0
                else None
            ),
            observers=[self.metrics.observe_rpc],
        )
        self.metrics.watch(self.pool, self.admission, self.cache)
        # The handlers, shared by the gRPC server and the HTTP listener.
        self.servicers = Servicers(
            TranslationServicer(settings, self.translator, self.detector),
            SummarizationServicer(settings, self.summarizer),
            ArticleServicer(settings, self.articles),
        )
        self.grpc_server = self._grpc_server()
        self.port = self._listen()
        self._serving = False
        self.http: HttpServer | None = None
        if settings.http_port >= 0:
            self.http = HttpServer(
                settings,
                self.gate,
                self.servicers,
                workers=self.threads.grpc_workers,
                ready=self.ready,
            )
        self.http_port = self.http.port if self.http is not None else None

    def _model_pool(self, calibration: dict[str, Calibration]) -> ModelPool:
        settings = self.settings
        return ModelPool(
            self.registry,
            ModelStore(settings.model_dir),
            calibration=calibration,
            batcher_config=BatcherConfig(
                max_batch_tokens=settings.max_batch_tokens,
                max_batch_size=settings.max_batch_size,
                max_delay=settings.max_queue_delay_ms / 1000,
                quiet=settings.queue_quiet_ms / 1000,
                max_queue=settings.max_queue,
            ),
            engine_options=EngineOptions(
                device=settings.device,
                intra_threads=self.threads.intra,
                inter_threads=self.threads.inter,
            ),
            observer_factory=self.metrics.batch_observer,
        )

    def _grpc_server(self) -> grpc.Server:
        """The gRPC server with every service, health (NOT_SERVING until warm) and reflection."""
        settings = self.settings
        server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=self.threads.grpc_workers, thread_name_prefix="grpc"
            ),
            interceptors=self._interceptors(),
            options=[
                *_connection_age(settings),
                # Clients ping every 30 s to notice dead peers; a long call (an article on CPU
                # takes minutes) sends no data meanwhile, so allow pings without it.
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
                ("grpc.http2.max_ping_strikes", 0),
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                ("grpc.max_send_message_length", settings.max_message_bytes * 2),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.servicers = Servicers(
            TranslationServicer(settings, self.translator, self.detector),
            SummarizationServicer(settings, self.summarizer),
            ArticleServicer(settings, self.articles),
        )
        translation_pb2_grpc.add_TranslationServiceServicer_to_server(
            self.servicers.translation, server
        )
        summarization_pb2_grpc.add_SummarizationServiceServicer_to_server(
            self.servicers.summarization, server
        )
        article_pb2_grpc.add_ArticleServiceServicer_to_server(self.servicers.article, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        for name in ("", *SERVICES):
            self.health.set(name, _NOT_SERVING)
        return server

    def _listen(self) -> int:
        """Bind the gRPC port (TLS when configured); the port bound."""
        settings = self.settings
        address = _listen_address(settings.host, settings.port)
        credentials = None
        if settings.tls_cert is not None and settings.tls_key is not None:
            credentials = server_credentials(
                settings.tls_cert, settings.tls_key, settings.tls_client_ca
            )
        try:
            if credentials is not None:
                port: int = self.grpc_server.add_secure_port(address, credentials)
            else:
                port = self.grpc_server.add_insecure_port(address)
        except RuntimeError:  # grpcio >= 1.60 raises where older versions returned 0
            port = 0
        if port == 0:
            raise SettingsError(
                f"--port {settings.port}: cannot listen on {address} (in use, or not allowed); "
                "pick another --port"
            )
        return port

    def _interceptors(self) -> list[grpc.ServerInterceptor]:
        interceptors: list[grpc.ServerInterceptor] = []
        if self.settings.otel_tracing:
            from newsmt.server.tracing import server_interceptor

            interceptors.append(server_interceptor())
        interceptors.append(RequestInterceptor(self.gate))
        return interceptors

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving at once (health NOT_SERVING) and load models in the background."""
        self.grpc_server.start()
        if self.http is not None:
            self.http.start()
            log.info(
                "HTTP on %s://%s:%d (REST, /openapi.json, DeepL /v2, LibreTranslate)",
                "https" if self.http.tls else "http",
                self.settings.host,
                self.http.port,
            )
        if self.settings.metrics_port >= 0:
            try:
                self.metrics_port = self.metrics.serve(
                    self.settings.host.strip("[]"), self.settings.metrics_port
                )
            except OSError as exc:
                self.grpc_server.stop(None)
                raise SettingsError(
                    f"--metrics-port {self.settings.metrics_port}: cannot listen on "
                    f"{_listen_address(self.settings.host, self.settings.metrics_port)} "
                    f"({exc.strerror or exc}); pick another --metrics-port, or -1 for none"
                ) from None
            log.info("metrics on http://%s:%d/metrics", self.settings.host, self.metrics_port)
        log.info(
            "listening on %s:%d; loading models (per model: %d engine call(s) at once, %d "
            "thread(s) each)",
            self.settings.host,
            self.port,
            self.threads.inter,
            self.threads.intra,
        )
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self) -> None:
        self.pool.load_all(on_change=self._update_health)
        self._update_health()
        self._ready.set()
        states = ", ".join(f"{m.spec.name}={m.state.value}" for m in self.pool.models())
        log.info("models loaded: %s", states)

    def _update_health(self) -> None:
        translation = any(
            self.pool.is_ready(spec.name)
            for spec in self.registry.models.values()
            if spec.task == "translation"
        )
        summarizer = self.registry.summarizer()
        summarization = summarizer is not None and self.pool.is_ready(summarizer.name)
        article = translation or summarization
        for name, up in (
            (TRANSLATION, translation),
            (SUMMARIZATION, summarization),
            (ARTICLE, article),
        ):
            self.health.set(name, _SERVING if up else _NOT_SERVING)
        overall = self._ready.is_set() or all(
            m.state.value != "loading" for m in self.pool.models()
        )
        self._serving = overall and article
        self.health.set("", _SERVING if self._serving else _NOT_SERVING)

    def ready(self) -> bool:
        """What the overall health says: SERVING once warm, until the drain begins."""
        return self._serving and not self.gate.draining

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until every model has been tried (loaded, missing or failed)."""
        return self._ready.wait(timeout)

    def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: health NOT_SERVING at once, new calls UNAVAILABLE, in-flight calls
        get `grace` seconds to finish; what is still running then is cancelled."""
        grace = self.settings.shutdown_grace if grace is None else grace
        self.health.enter_graceful_shutdown()
        self.gate.draining = True
        drained = self.admission.wait_idle(grace)
        if not drained:
            log.warning(
                "shutdown grace of %.1fs over; ending %d request(s)",
                grace,
                self.admission.inflight,
            )
            stopping = ServiceUnavailable("server shut down before the request finished; retry")
            for ctx in list(self.gate.live):
                ctx.cancel(stopping)
            self.admission.wait_idle(1.0)
        # Admission counts a call out when its handler ends, before gRPC has sent the response
        # (or the status of a call ended above): the calls waited for get a moment to leave.
        # stop(0) here cut them with UNAVAILABLE "Cancelling all calls".
        if self.http is not None:
            self.http.stop_jobs()
        self.grpc_server.stop(_RESPONSE_FLUSH_S).wait()
        if self.http is not None:
            self.http.stop()
        self.pool.close(timeout=1.0)
        self.metrics.close()
        self._stage_pool.shutdown(wait=False, cancel_futures=True)
        log.info("stopped")

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return bool(self.grpc_server.wait_for_termination(timeout))


# How long a drained server waits for the last responses to leave before it cancels what is
# still open (a health Watch stream, say); writing a response takes milliseconds.
_RESPONSE_FLUSH_S = 1.0


def _connection_age(settings: Settings) -> list[tuple[str, int]]:
    if settings.max_connection_age_s <= 0:
        return []
    age_ms = int(settings.max_connection_age_s * 1000)
    # New calls go to a new connection at once; the calls in flight on the aged one must not
    # be cut (the client would see UNAVAILABLE after minutes of work): they get as long as a
    # call without a deadline of its own may take, or the shutdown grace if that is longer.
    grace = max(settings.default_timeout, settings.shutdown_grace) + 5
    return [
        ("grpc.max_connection_age_ms", age_ms),
        ("grpc.max_connection_age_grace_ms", int(grace * 1000)),
    ]


def _listen_address(host: str, port: int) -> str:
    """host:port, with IPv6 literals bracketed ("::" -> "[::]:50051")."""
    host = host.strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def create_server(settings: Settings, registry: Registry | None = None) -> tuple[NewsmtServer, int]:
    """Build a server bound to `settings.port` (0 = a free port); returns it and its port."""
    server = NewsmtServer(settings, registry)
    return server, server.port


@contextmanager
def serving(
    settings: Settings,
    registry: Registry | None = None,
    *,
    ready_timeout: float | None = 120.0,
    grace: float = 1.0,
) -> Iterator[tuple[NewsmtServer, str]]:
    """A started server in this process, its models loaded: yields (server, "host:port"),
    and stops it on the way out. For tests, `newsmt smoke` and the bench."""
    server, port = create_server(settings, registry)
    server.start()
    try:
        if not server.wait_until_ready(ready_timeout):
            raise TimeoutError(f"models did not load within {ready_timeout} s")
        yield server, f"{settings.host}:{port}"
    finally:
        server.stop(grace=grace)
