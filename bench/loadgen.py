"""Servers as subprocesses, and a closed-loop load generator: C client threads, N requests."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import free_port, percentile, proc_status_kib


class ServerProcess:
    """A server run as a subprocess on a free port; its log goes to a file."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def metrics(self, model: str) -> dict[str, float]:
        """The server's per-model engine counters from its Prometheus endpoint (the port is in
        its log): engine calls, rows, engine seconds, generated tokens. Empty if unreachable."""
        import urllib.request

        found = re.search(r"metrics on http://(\S+)/metrics", self.log_path.read_text("utf-8"))
        if found is None:
            return {}
        try:
            with urllib.request.urlopen(f"http://{found.group(1)}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        wanted = {
            "newsmt_batch_size_count": "engine_calls",
            "newsmt_batch_size_sum": "rows",
            "newsmt_engine_seconds_sum": "engine_seconds",
            "newsmt_generated_tokens_total": "engine_tokens",
        }
        out: dict[str, float] = {}
        for line in text.splitlines():
            name, _, rest = line.partition("{")
            if name in wanted and f'model="{model}"' in rest:
                out[wanted[name]] = float(rest.rsplit(" ", 1)[1])
        return out

    def peak_rss_mib(self) -> float | None:
        kib = proc_status_kib(self.pid, "VmHWM")
        return None if kib is None else round(kib / 1024, 1)

    def rss_mib(self) -> float | None:
        kib = proc_status_kib(self.pid, "VmRSS")
        return None if kib is None else round(kib / 1024, 1)


def newsmt_argv(model_dir: Path, *extra: str) -> list[str]:
    """`newsmt serve` from this interpreter's environment, on the port the process picks."""
    script = Path(sys.executable).with_name("newsmt")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "newsmt.cli.main"]
    # The metrics endpoint on a free port (0), not the default 9464 another server may hold.
    serve = ["serve", "--port", "{port}", "--metrics-port", "0", "--model-dir", str(model_dir)]
    return [*command, *serve, *extra]


def wait_until_loaded(server: ServerProcess, timeout: float = 600.0) -> list[dict[str, Any]]:
    """Block until the server is SERVING and every model is loaded; return ListModels."""
    from newsmt.client import Client, NewsmtError

    deadline = time.monotonic() + timeout
    with Client(server.address, timeout=10) as client:
        while True:
            server.check_alive()
            try:
                client.wait_until_serving(timeout=5)
                models = client.list_models()
                if all(m.loaded for m in models):
                    return [
                        {"name": m.name, "engine": m.engine, "state": m.state, "demo": m.demo}
                        for m in models
                    ]
            except NewsmtError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{server.name}: models not loaded after {timeout:.0f} s")
            time.sleep(0.5)


def wait_until_serving(server: ServerProcess, timeout: float = 60.0) -> None:
    from newsmt.client import Client, NewsmtError

    deadline = time.monotonic() + timeout
    with Client(server.address, timeout=5) as client:
        while True:
            server.check_alive()
            try:
                client.wait_until_serving(timeout=2)
                return
            except NewsmtError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


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

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    if on_start is not None:
        on_start()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    return LoadRun(concurrency, requests, seconds, latencies, sum(errors.values()), errors, outputs)
