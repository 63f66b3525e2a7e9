"""Servers as subprocesses, and a closed-loop load generator: C client threads, N requests."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import percentile

# The repository root, for the scaffolding the bench shares with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ServerProcess, metric_values, scrape, wait_for

#: Engine counters of /metrics, by the names the bench reports them under.
ENGINE_COUNTERS = {
    "newsmt_batch_size_count": "engine_calls",
    "newsmt_batch_size_sum": "rows",
    "newsmt_engine_seconds_sum": "engine_seconds",
    "newsmt_generated_tokens_total": "engine_tokens",
}


def newsmt_server(name: str, model_dir: Path, log_dir: Path, *flags: str) -> ServerProcess:
    """`newsmt serve` on `model_dir` on free ports (the metrics endpoint too), its log in
    `log_dir`/NAME.log; as a context manager it starts it and waits until it is SERVING. The
    per-unit translation cache is off: every workload here repeats its sentences, and the
    bench measures the models being served, not cache hits."""
    return ServerProcess(
        "--model-dir",
        str(model_dir),
        "--cache-bytes",
        "0",
        *flags,
        name=name,
        log=log_dir / f"{name}.log",
        ready_timeout=600.0,
    )


def engine_counters(server: ServerProcess, model: str) -> dict[str, float]:
    """The server's per-model engine counters from its Prometheus endpoint: engine calls, rows,
    engine seconds, generated tokens. Empty if unreachable."""
    try:
        text = scrape(server.metrics_port)
    except OSError:
        return {}
    return {
        ENGINE_COUNTERS[name]: value
        for (name, labels), value in metric_values(text).items()
        if name in ENGINE_COUNTERS and ("model", model) in labels
    }


def wait_until_loaded(server: ServerProcess, timeout: float = 600.0) -> list[dict[str, Any]]:
    """Block until every model of the server is loaded; return ListModels."""
    from newsmt.client import Client, NewsmtError

    with Client(server.address, timeout=10) as client:

        def loaded() -> list[Any] | None:
            server.check_alive()
            try:
                models = client.list_models()
            except NewsmtError:
                return None
            return models if all(m.loaded for m in models) else None

        models = wait_for(loaded, timeout, interval=0.5, what=f"{server.name}: models loaded")
    return [{"name": m.name, "engine": m.engine, "state": m.state, "demo": m.demo} for m in models]


@dataclass
class LoadRun:
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    #: Error class names and how often each came back.
    error_kinds: dict[str, int] = field(default_factory=dict)
    #: Request number -> translated text.
    outputs: dict[int, str] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return (self.requests - self.errors) / self.seconds

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.per_second, 3),
            "p50_ms": round(percentile(lat, 50), 2),
            "p90_ms": round(percentile(lat, 90), 2),
            "p99_ms": round(percentile(lat, 99), 2),
        }


def closed_loop(
    address: str,
    texts: Sequence[str],
    *,
    concurrency: int,
    requests: int,
    source: str = "en",
    target: str = "ru",
    warmup_text: str = "Hello.",
    keep_outputs: bool = True,
    on_start: Callable[[], None] | None = None,
) -> LoadRun:
    """C threads, each with its own `newsmt.client.Client` (its own channel), send one-segment
    Translate requests back to back until `requests` are done; request i carries
    texts[i % len(texts)]. Each thread first sends one warm-up request, untimed; `on_start`
    runs once they all have, as the timed part begins."""
    from newsmt.client import Client, NewsmtError

    counter = itertools.count()
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    latencies: list[float] = []
    outputs: dict[int, str] = {}
    errors: dict[str, int] = {}

    def worker() -> None:
        # No client-side retries: a failed call is counted, never hidden in a latency.
        with Client(address, timeout=900, retries=0) as client:
            try:
                client.translate([warmup_text], source=source, target=target)
            finally:
                start.wait()
            mine: list[float] = []
            while (i := next(counter)) < requests:
                text = texts[i % len(texts)]
                began = time.perf_counter()
                try:
                    [result] = client.translate([text], source=source, target=target)
                except NewsmtError as exc:
                    with lock:
                        kind = type(exc).__name__
                        errors[kind] = errors.get(kind, 0) + 1
                    continue
                mine.append((time.perf_counter() - began) * 1000)
                if keep_outputs:
                    outputs[i] = result.text
            with lock:
                latencies.extend(mine)

    seconds = run_workers(worker, concurrency, start, on_start)
    return LoadRun(concurrency, requests, seconds, latencies, sum(errors.values()), errors, outputs)


def run_workers(
    worker: Callable[[], None],
    concurrency: int,
    start: threading.Barrier,
    on_start: Callable[[], None] | None = None,
) -> float:
    """Run `worker` on `concurrency` threads; time from the moment all of them have passed
    `start` (a barrier of concurrency + 1, after their warm-up) until the last one ends."""
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    if on_start is not None:
        on_start()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began
