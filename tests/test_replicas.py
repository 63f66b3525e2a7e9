"""Three replicas on loopback, one client balancing over them; replicas die and drain."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from newsmt.client import Client, NewsmtError

from .conftest import ROOT
from .support import ServerProcess, metric, scrape, wait_for

RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def served(replica: ServerProcess) -> int:
    """Translate calls the replica answered OK, from its /metrics: the count goes up before
    the answer leaves the server, so every call the client has back is in it."""
    return int(
        metric(
            scrape(replica.metrics_port),
            "newsmt_requests_total",
            method="/newsmt.v1.TranslationService/Translate",
            code="OK",
            missing=0.0,  # no Translate answered yet
        )
    )


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    registry = tmp_path / "registry.toml"
    text = (ROOT / "service/newsmt/models/registry.toml").read_text()
    registry.write_text(text.replace('task = "', 'engine = "identity"\ntask = "'))
    started = [
        ServerProcess(
            "--model-dir",
            str(tmp_path),
            "--registry",
            str(registry),
            "--shutdown-grace",
            "5",
            name=f"replica {i}",
            log=tmp_path / f"replica-{i}.log",
            ready_timeout=60,
        )
        for i in range(3)
    ]
    try:
        for r in started:
            r.start()
        yield started
    finally:
        for r in started:
            r.stop(signal.SIGKILL, timeout=10)


def test_round_robin_and_failover(replicas: list[ServerProcess]) -> None:
    a, b, c = replicas
    addresses = ",".join(r.address for r in replicas)
    outcomes: list[str] = []
    lock = threading.Lock()

    def call(client: Client, i: int) -> None:
        started = time.monotonic()
        try:
            [out] = client.translate([f"request {i}."], source="en", target="ru", timeout=10)
            result = "ok" if out.text == f"request {i}." else "wrong"
        except NewsmtError as exc:
            result = "retryable" if exc.code in RETRYABLE else f"lost:{exc.code.name}"
        assert time.monotonic() - started < 10 + 1, "a call outlived its deadline"
        with lock:
            outcomes.append(result)

    with Client(addresses, timeout=10, retries=3) as client, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: call(client, i), range(60)))
        assert all(served(r) > 5 for r in replicas), [served(r) for r in replicas]  # spread

        # Kill one replica in the middle of a burst.
        burst = [pool.submit(call, client, 1000 + i) for i in range(200)]
        wait_for(lambda: sum(f.done() for f in burst) >= 20, 10, what="the burst under way")
        a.send(signal.SIGKILL)
        for f in burst:
            f.result(timeout=30)

        # Drain another: it turns NOT_SERVING, finishes its work and exits; traffic moves on.
        assert b.stop(signal.SIGTERM, timeout=30) == 0
        before = served(c)
        list(pool.map(lambda i: call(client, i), range(2000, 2060)))
        assert served(c) - before >= 60

    assert "wrong" not in outcomes
    assert not [o for o in outcomes if o.startswith("lost")], outcomes
    # Failover is the point: with retries on UNAVAILABLE, nearly everything succeeds.
    assert outcomes.count("ok") >= len(outcomes) - 5, outcomes.count("ok")
