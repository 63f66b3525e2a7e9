"""Three replicas on loopback, one client balancing over them; replicas die and drain."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from newsmt.client import Client, NewsmtError

from .conftest import ROOT

RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    def __init__(self, registry: Path, model_dir: Path) -> None:
        self.port = free_port()
        self.log = model_dir / f"replica-{self.port}.log"
        self._log_file = self.log.open("w")
        env = {**os.environ, "NEWSMT_LOG_FORMAT": "json", "HF_HUB_OFFLINE": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newsmt.cli.main",
                "serve",
                "--port",
                str(self.port),
                "--metrics-port",
                "-1",
                "--model-dir",
                str(model_dir),
                "--registry",
                str(registry),
                "--shutdown-grace",
                "5",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def served(self) -> int:
        """Translate calls answered OK, from the access log once its writer has caught up (the
        server writes log lines in batches, every 50 ms)."""
        last = -1
        while (count := self._count_served()) != last:
            last = count
            time.sleep(0.3)
        return count

    def _count_served(self) -> int:
        lines = [
            json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")
        ]
        return sum(
            1 for r in lines if r.get("method", "").endswith("/Translate") and r.get("code") == "OK"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._log_file.close()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Replica]]:
    registry = tmp_path / "registry.toml"
    text = (ROOT / "service/newsmt/models/registry.toml").read_text()
    registry.write_text(text.replace('task = "', 'engine = "identity"\ntask = "'))
    started = [Replica(registry, tmp_path) for _ in range(3)]
    try:
        for r in started:
            with Client(r.address, timeout=10) as probe:
                probe.wait_until_serving(timeout=60)
        yield started
    finally:
        for r in started:
            r.stop()


def test_round_robin_and_failover(replicas: list[Replica]) -> None:
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
        assert all(r.served() > 5 for r in replicas), [r.served() for r in replicas]  # spread

        # Kill one replica in the middle of a burst.
        burst = [pool.submit(call, client, 1000 + i) for i in range(200)]
        time.sleep(0.2)
        a.process.send_signal(signal.SIGKILL)
        for f in burst:
            f.result(timeout=30)

        # Drain another: it turns NOT_SERVING, finishes its work and exits; traffic moves on.
        b.process.send_signal(signal.SIGTERM)
        assert b.process.wait(timeout=30) == 0
        before = c.served()
        list(pool.map(lambda i: call(client, i), range(2000, 2060)))
        assert c.served() - before >= 60

    assert "wrong" not in outcomes
    assert not [o for o in outcomes if o.startswith("lost")], outcomes
    # Failover is the point: with retries on UNAVAILABLE, nearly everything succeeds.
    assert outcomes.count("ok") >= len(outcomes) - 5, outcomes.count("ok")
