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


def proc_status_kib(pid: int, key: str) -> int | None:
    """A `kB` field of /proc/PID/status (VmHWM = peak resident set, VmRSS = current); None
    where the process is gone or the field is not there."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class ServerProcess:
    """`newsmt serve` as a child process on free ports, for tests and benchmarks that need a
    real process (signals, exit codes, memory). Use as a context manager, or start()/stop().

    `flags` follow `serve --host 127.0.0.1 --port P --metrics-port M --http-port H` (free
    ports); `metrics=False` turns the metrics endpoint off (-1). `log` is the file its stdout
    and stderr go to (rewritten); without one they are dropped, or, with `quiet=False`, left
    on this process's own. `argv` runs
    another gRPC server instead (the bench's echo server): "{port}" in it becomes the port,
    and it is ready once a channel to it connects rather than once its health says SERVING.
    """

    def __init__(
        self,
        *flags: str,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        metrics: bool = True,
        command: Sequence[str] = NEWSMT,
        name: str = "newsmt",
        argv: Sequence[str] | None = None,
        quiet: bool = True,
        ready_timeout: float = 120.0,
        http: bool = True,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.metrics_port = free_port() if metrics and argv is None else -1
        #: -1 (no HTTP listener, and no --http-port flag) for `argv` or with `http=False`: an
        #: older revision's server has no such flag (bench/ab.py).
        self.http_port = free_port() if argv is None and http else -1
        self.address = f"127.0.0.1:{self.port}"
        if argv is not None:
            self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        else:
            self.argv = [
                *command,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--metrics-port",
                str(self.metrics_port),
                *(("--http-port", str(self.http_port)) if http else ()),
                *flags,
            ]
        self.health = argv is None
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = log
        self.quiet = quiet
        self.ready_timeout = ready_timeout
        self._log: IO[Any] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, ready_timeout: float | None = None) -> ServerProcess:
        """Start it and wait until it is ready (see the class); RuntimeError if it exits
        first, TimeoutError after `ready_timeout` (default: the constructor's)."""
        if self.log_path is not None:
            self._log = self.log_path.open("wb")
        output = self._log or (subprocess.DEVNULL if self.quiet else None)
        self.process = subprocess.Popen(
            self.argv,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            env=self.env,
            cwd=ROOT,
        )
        timeout = self.ready_timeout if ready_timeout is None else ready_timeout
        ready = self._serving if self.health else self._connects
        wait_for(ready, timeout, interval=0.2, what=f"{self.name} at {self.address} ready")
        return self

    def check_alive(self) -> None:
        """RuntimeError, with the end of its log, if the process has exited."""
        assert self.process is not None, "not started"
        code = self.process.poll()
        if code is None:
            return
        tail = ""
        if self.log_path is not None and self.log_path.exists():
            tail = ":\n" + self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} exited with {code}{tail}")

    def _serving(self) -> bool:
        self.check_alive()
        from newsmt.client import Client

        try:
            with Client(self.address, timeout=2, retries=0) as client:
                return client.health() == "SERVING"
        except Exception:
            return False

    def _connects(self) -> bool:
        self.check_alive()
        import grpc

        with grpc.insecure_channel(self.address) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=2)
            except grpc.FutureTimeoutError:
                return False
        return True

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def rss_mib(self) -> float | None:
        """Its resident memory now, in MiB to 0.1 (None once it is gone)."""
        kib = proc_status_kib(self.pid, "VmRSS")
        return None if kib is None else round(kib / 1024, 1)

    def peak_rss_mib(self) -> float | None:
        """Its peak resident memory so far, in MiB to 0.1 (None once it is gone)."""
        kib = proc_status_kib(self.pid, "VmHWM")
        return None if kib is None else round(kib / 1024, 1)

    def cpu_seconds(self) -> float:
        """The CPU time it has used so far, user and system, from /proc/PID/stat."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            # Fields after the command name (which may hold spaces), from field 3 on.
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def send(self, signum: int) -> None:
        """Send a signal (SIGTERM, SIGKILL, ...) without waiting."""
        assert self.process is not None, "not started"
        self.process.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send `signum` unless it has exited, and return its exit code (it is killed after
        `timeout` seconds). Safe to call more than once."""
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
        try:
            return self.start()
        except BaseException:
            self.stop(signal.SIGKILL, 10)
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
