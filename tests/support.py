"""What the tests and the bench share: free ports, waiting for a state, reading /metrics, and
`newsmt serve` as a child process.

The bench imports this too (`from tests.support import ...`, with the repository root on
sys.path), so there is one copy of each.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
NEWSMT = [sys.executable, "-m", "newsmt.cli.main"]

T = TypeVar("T")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, *, interval: float = 0.01, what: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy, and return that. Raises
    TimeoutError naming `what` when `timeout` seconds pass first. Use it wherever a test
    waits for a state: a fixed sleep is either too short on a busy machine or too long."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout:g}s for {what or predicate!r}")
        time.sleep(interval)


# -- metrics -----------------------------------------------------------------------------------


def scrape(port: int, host: str = "127.0.0.1") -> str:
    """The Prometheus exposition text of a server's /metrics endpoint."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        return str(response.read().decode("utf-8"))


def metric_values(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample in an exposition text: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(text: str, name: str, *, missing: float | None = None, **labels: str) -> float:
    """The value of the one sample `name` whose labels include `labels`. A series that is not
    there raises KeyError, so that a check that a counter is 0 cannot pass because the metric
    is gone; pass `missing=0.0` only where absence truly means zero (a labelled counter read
    before its first increment). Several matching series raise ValueError."""
    wanted = set(labels.items())
    found = [
        value
        for (sample, sample_labels), value in metric_values(text).items()
        if sample == name and wanted <= sample_labels
    ]
    if len(found) > 1:
        raise ValueError(f"{len(found)} series {name}{labels}: name more labels")
    if found:
        return found[0]
    if missing is not None:
        return missing
    raise KeyError(f"no series {name}{labels} in the metrics")


# -- a server process ------------------------------------------------------------------------


class ServerProcess:
    """`newsmt serve` as a child process on free ports, for tests and benchmarks that need a
    real process (signals, exit codes, memory). Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        *flags: str,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        metrics: bool = True,
        command: Sequence[str] = NEWSMT,
    ) -> None:
        self.port = free_port()
        self.metrics_port = free_port() if metrics else -1
        self.address = f"127.0.0.1:{self.port}"
        self.argv = [
            *command,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--metrics-port",
            str(self.metrics_port),
            *flags,
        ]
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = log
        self._log: IO[Any] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, ready_timeout: float = 120.0) -> ServerProcess:
        """Start it and wait until its health service says SERVING."""
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            env=self.env,
            cwd=ROOT,
        )
        wait_for(self._serving, ready_timeout, interval=0.2, what=f"{self.address} SERVING")
        return self

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"newsmt serve exited with {self.process.returncode}")
        from newsmt.client import Client

        try:
            with Client(self.address, timeout=2, retries=0) as client:
                return client.health() == "SERVING"
        except Exception:
            return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def send(self, signum: int) -> None:
        """Send a signal (SIGTERM, SIGKILL, ...) without waiting."""
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send `signum` and wait for the exit code (killed after `timeout`)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
