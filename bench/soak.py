#!/usr/bin/env python3
"""Soak test: mixed traffic from 16 concurrent clients against a real server for a set time.

    python bench/soak.py --duration 600 --out bench/results/soak.json

It starts `newsmt serve` on demo models (building and converting them if missing), sends a
mix of Translate (short, medium, long), ProcessArticle, Summarize, DetectLanguage, invalid
requests and calls abandoned by tight deadlines, samples the server's resident memory every
second, and reports the growth over the second half (target: under 50 MB), every unexpected
status, and the server's in-flight and queue state once traffic stops (must be back to zero).
Not a CI test: it runs for minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import grpc

from newsmt.client import Client, NewsmtError
from newsmt.models.registry import Registry, resolve_compute_type
from newsmt.models.store import ModelStore
from newsmt.pipeline.segment import sentences

ROOT = Path(__file__).resolve().parent.parent
#: Outcomes a kind of request may have without being an error.
EXPECTED = {
    "invalid": {"INVALID_ARGUMENT"},
    # A 50 ms deadline behind a queue is refused on arrival (RESOURCE_EXHAUSTED) or expires.
    "tight-deadline": {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ensure_models(model_dir: Path, size: str) -> None:
    store = ModelStore(model_dir)
    for spec in Registry.load().models.values():
        local = store.locate(spec)
        if local is None:
            store.make_demo(spec, size=size)  # type: ignore[arg-type]
            local = store.locate(spec)
        assert local is not None
        compute = resolve_compute_type(spec, "cpu")
        if not store.is_converted(local, compute):
            store.convert(local, compute)


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("newsmt_inflight_requests", "newsmt_queue_depth")):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


class Traffic:
    def __init__(self, address: str, article: str, seed: int) -> None:
        self.address = address
        self.article = article
        self.lines = sentences(article, "en")
        self.rng = random.Random(seed)
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def one(self, client: Client) -> None:
        kind = self.rng.choices(
            [
                "short",
                "medium",
                "long",
                "article",
                "summary",
                "detect",
                "invalid",
                "tight-deadline",
            ],
            weights=[30, 20, 8, 4, 4, 10, 8, 6],
        )[0]
        k = self.rng.randrange(len(self.lines))
        started = time.monotonic()
        code = "OK"
        try:
            if kind == "short":
                client.translate([self.lines[k]], source="en", target=self.rng.choice(["ru", "es"]))
            elif kind == "medium":
                client.translate([" ".join(self.lines[k : k + 4])], source="en", target="ru")
            elif kind == "long":
                client.translate([self.article[:4000]], target=self.rng.choice(["ru", "es"]))
            elif kind == "article":
                result = client.process_article(
                    self.lines[0], self.article[:3000], targets=["ru", "es"], summaries=["en", "ru"]
                )
                if not result.ok:
                    code = "STAGE_FAILED"
            elif kind == "summary":
                client.summarize(self.article, source="en", target="es", max_sentences=3)
            elif kind == "detect":
                client.detect_language(self.lines[k : k + 8])
            elif kind == "invalid":
                client.translate([self.lines[k]], source="en", target="xx")
            else:
                client.translate([self.article[:2000]], source="en", target="ru", timeout=0.05)
        except NewsmtError as exc:
            code = exc.code.name
        seconds = time.monotonic() - started
        with self.lock:
            self.outcomes[(kind, code)] += 1
            self.latency.setdefault(kind, []).append(seconds)
            if code not in EXPECTED.get(kind, {"OK"}):
                self.errors.append(f"{kind}: {code}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of traffic")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--demo-size", choices=("full", "tiny"), default="full")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ensure_models(args.model_dir, args.demo_size)
    port, metrics_port = free_port(), free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsmt.cli.main",
            "serve",
            "--port",
            str(port),
            "--metrics-port",
            str(metrics_port),
            "--model-dir",
            str(args.model_dir),
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        with Client(address, timeout=60) as probe:
            probe.wait_until_serving(timeout=300)
            demo = [m.name for m in probe.list_models() if m.demo]
        article = next((ROOT / "seeds").glob("*.txt")).read_text(encoding="utf-8")
        traffic = Traffic(address, article, seed=1234)
        samples: list[tuple[float, float]] = []
        stop = threading.Event()
        started = time.monotonic()

        def sample() -> None:
            while not stop.is_set():
                samples.append((time.monotonic() - started, rss_mb(server.pid)))
                stop.wait(1.0)

        def client_loop() -> None:
            with Client(address, timeout=120, retries=0) as client:
                while time.monotonic() - started < args.duration:
                    traffic.one(client)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        workers = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        sampler.join()
        time.sleep(1.0)
        state = scrape(metrics_port)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            _, stderr = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()

    half = args.duration / 2
    second_half = [mb for t, mb in samples if t >= half]
    growth = second_half[-1] - second_half[0] if len(second_half) > 1 else 0.0
    total = sum(traffic.outcomes.values())
    report: dict[str, Any] = {
        "command": " ".join(["python", "bench/soak.py", *sys.argv[1:]]),
        "duration_s": args.duration,
        "clients": args.clients,
        "demo_models": demo,
        "requests": total,
        "requests_per_s": round(total / args.duration, 2),
        "outcomes": {f"{kind} {code}": n for (kind, code), n in sorted(traffic.outcomes.items())},
        "unexpected": dict(Counter(traffic.errors)),
        "latency_ms": {
            kind: {
                "p50": round(statistics.median(v) * 1000, 1),
                "p99": round(sorted(v)[max(0, math.ceil(0.99 * len(v)) - 1)] * 1000, 1),
                "n": len(v),
            }
            for kind, v in sorted(traffic.latency.items())
        },
        "rss_mb": {
            "start": round(samples[0][1], 1) if samples else None,
            "second_half_start": round(second_half[0], 1) if second_half else None,
            "end": round(samples[-1][1], 1) if samples else None,
            "max": round(max(mb for _, mb in samples), 1) if samples else None,
            "second_half_growth": round(growth, 1),
        },
        "after_traffic": state,
        "server_exit_code": server.returncode,
        "server_errors_logged": sum(1 for line in stderr.splitlines() if " ERROR " in line),
        "passed": growth < 50
        and not traffic.errors
        and all(v == 0 for v in state.values())
        and server.returncode == 0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    grpc_version = grpc.__version__
    sys.exit(main())
