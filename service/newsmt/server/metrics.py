"""Prometheus metrics on their own HTTP port. Nothing here sees request text.

Everything is updated once per RPC (interceptor) or once per engine call (batcher observer),
never per token or per sentence; queue depths and model states are read at scrape time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from newsmt.models.pool import ModelPool, ModelState
from newsmt.pipeline.cache import TranslationCache
from newsmt.scheduler.admission import Admission

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_WAIT = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
_ROWS = (1, 2, 4, 8, 16, 32, 64, 128)
_TOKENS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes and friends
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "newsmt_requests",
            "Calls finished, by method, status code and protocol (grpc; http, the REST API; "
            "deepl and libretranslate, the compatible APIs)",
            ["method", "code", "protocol"],
            registry=r,
        )
        self.latency = Histogram(
            "newsmt_request_duration_seconds",
            "Call latency, by method and protocol",
            ["method", "protocol"],
            buckets=_LATENCY,
            registry=r,
        )
        self.queue_wait = Histogram(
            "newsmt_queue_wait_seconds",
            "Time a sentence or chunk waited in its model's queue",
            ["model"],
            buckets=_WAIT,
            registry=r,
        )
        self.batch_rows = Histogram(
            "newsmt_batch_size", "Rows per engine call", ["model"], buckets=_ROWS, registry=r
        )
        self.batch_tokens = Histogram(
            "newsmt_batch_tokens",
            "Tokens per engine call as --max-batch-tokens counts them: rows x (longest input +"
            " output bound)",
            ["model"],
            buckets=_TOKENS,
            registry=r,
        )
        self.engine_seconds = Histogram(
            "newsmt_engine_seconds", "Engine call duration", ["model"], buckets=_LATENCY, registry=r
        )
        self.generated = Counter(
            "newsmt_generated_tokens", "Tokens generated, by model", ["model"], registry=r
        )
        self._http: Any = None
        self._request_children: dict[tuple[str, str, str], Any] = {}
        self._latency_children: dict[tuple[str, str], Any] = {}

    def observe_rpc(self, method: str, code: str, seconds: float, protocol: str) -> None:
        # Looking a labelled child up costs more than using it: keep them (a few dozen).
        key = (method, code, protocol)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(method, code, protocol)
        histogram = self._latency_children.get((method, protocol))
        if histogram is None:
            histogram = self._latency_children[(method, protocol)] = self.latency.labels(
                method, protocol
            )
        counter.inc()
        histogram.observe(seconds)

    def batch_observer(self, model: str) -> Callable[[int, int, float, list[float], int], None]:
        rows_h = self.batch_rows.labels(model)
        tokens_h = self.batch_tokens.labels(model)
        engine_h = self.engine_seconds.labels(model)
        wait_h = self.queue_wait.labels(model)
        generated_c = self.generated.labels(model)

        def observe(
            rows: int, padded: int, seconds: float, waits: list[float], generated: int
        ) -> None:
            rows_h.observe(rows)
            tokens_h.observe(padded)
            engine_h.observe(seconds)
            generated_c.inc(generated)
            for wait in waits:
                wait_h.observe(wait)

        return observe

    def watch(
        self, pool: ModelPool, admission: Admission, cache: TranslationCache | None = None
    ) -> None:
        """Read queue depths, model states, in-flight requests and the translation cache's
        counters at scrape time."""
        self.registry.register(_StateCollector(pool, admission))
        if cache is not None:
            self.registry.register(_CacheCollector(cache))

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP endpoint (/metrics); returns the bound port."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = (server, thread)
        return int(server.server_address[1])

    def close(self) -> None:
        if self._http is not None:
            server, thread = self._http
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._http = None


class _StateCollector(Collector):
    def __init__(self, pool: ModelPool, admission: Admission) -> None:
        self.pool = pool
        self.admission = admission
        self._lock = threading.Lock()

    def collect(self) -> Any:
        depth = GaugeMetricFamily(
            "newsmt_queue_depth", "Sentences or chunks queued", labels=["model"]
        )
        loaded = GaugeMetricFamily(
            "newsmt_model_loaded",
            "1 when the model is loaded and serving",
            labels=["model", "engine"],
        )
        demo = GaugeMetricFamily(
            "newsmt_model_demo", "1 when the model has random demo weights", labels=["model"]
        )
        items = CounterMetricFamily(
            "newsmt_scheduler_items",
            "Sentences and chunks by how they left the scheduler: done, dropped_deadline (expired "
            "in the queue), dropped_cancelled, rejected_full (queue full), rejected_late (would "
            "have outlasted its deadline in the queue)",
            labels=["model", "outcome"],
        )
        for served in self.pool.models():
            name = served.spec.name
            depth.add_metric([name], served.batcher.queue_depth() if served.batcher else 0)
            if served.batcher is not None:
                stats = served.batcher.stats
                for outcome, count in (
                    ("done", stats.items_done),
                    ("dropped_deadline", stats.dropped_deadline),
                    ("dropped_cancelled", stats.dropped_cancelled),
                    ("rejected_full", stats.rejected_full),
                    ("rejected_late", stats.rejected_late),
                ):
                    items.add_metric([name, outcome], count)
            loaded.add_metric(
                [name, served.engine_kind or served.spec.engine], served.state is ModelState.READY
            )
            demo.add_metric([name], served.demo)
        yield depth
        yield items
        yield loaded
        yield demo
        inflight = GaugeMetricFamily(
            "newsmt_inflight_requests", "Requests admitted and not finished"
        )
        inflight.add_metric([], self.admission.inflight)
        yield inflight
        rejected = CounterMetricFamily(
            "newsmt_admission_rejected", "Requests refused by admission control"
        )
        rejected.add_metric([], self.admission.rejected)
        yield rejected


class _CacheCollector(Collector):
    """The translation cache's counters, read once per scrape (one consistent snapshot)."""

    def __init__(self, cache: TranslationCache) -> None:
        self.cache = cache

    def collect(self) -> Any:
        stats = self.cache.stats()
        for name, help_text, value in (
            ("newsmt_cache_hits", "Units answered from the translation cache", stats.hits),
            ("newsmt_cache_misses", "Units looked up and not found in the cache", stats.misses),
            (
                "newsmt_cache_coalesced",
                "Units looked up while another request was translating them, and waited for",
                stats.coalesced,
            ),
            (
                "newsmt_cache_evictions",
                "Cache entries dropped to stay within --cache-bytes",
                stats.evictions,
            ),
        ):
            counter = CounterMetricFamily(name, help_text)
            counter.add_metric([], value)
            yield counter
        size = GaugeMetricFamily("newsmt_cache_bytes", "Bytes the cache's entries count")
        size.add_metric([], stats.bytes)
        yield size
        entries = GaugeMetricFamily("newsmt_cache_entries", "Entries in the translation cache")
        entries.add_metric([], stats.entries)
        yield entries
