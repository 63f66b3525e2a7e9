"""Logging set-up: plain text or JSON lines. Configured by the CLI before heavy imports.

Request threads never write: a record gets its message and request id where it was made (the
values of that moment, that thread's id) and goes on a queue; one writer thread lays out and
writes whatever has gathered, at most every `FLUSH_SECONDS`, in one write. An access-log line
per RPC from dozens of threads otherwise meets a lock and a write system call in every
request. `close()`, run at exit and by `newsmt serve` before it leaves, writes what is left.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import sys
import threading
import time
from typing import TextIO

from newsmt.server.context import RequestIdFilter

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


#: How long the writer gathers lines before writing them.
FLUSH_SECONDS = 0.05


class BatchingHandler(logging.Handler):
    """Formats in the caller's thread; one writer thread writes the lines in batches."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        # The message is merged now, while its arguments are what they are; the filters have
        # already stamped the request id. Time stamp and layout can wait for the writer.
        try:
            record.message = record.getMessage()
        except Exception:
            self.handleError(record)
            return
        record.msg, record.args = record.message, None
        self._records.put(record)

    def _write_loop(self) -> None:
        while True:
            record = self._records.get()
            records: list[logging.LogRecord] = []
            while record is not None:
                records.append(record)
                try:
                    record = self._records.get_nowait()
                except queue.Empty:
                    break
            if records:
                self._write(records)
            if record is None:
                return
            time.sleep(FLUSH_SECONDS)

    def _write(self, records: list[logging.LogRecord]) -> None:
        lines = []
        for record in records:
            try:
                lines.append(self.format(record) + "\n")
            except Exception:
                self.handleError(record)
        # A closed or full stream must not take the server down, and has nowhere to complain.
        with contextlib.suppress(OSError, ValueError):
            self.stream.write("".join(lines))
            self.stream.flush()

    def close(self) -> None:
        """Write everything queued and stop the writer. Safe to call more than once."""
        if self._writer.is_alive():
            self._records.put(None)
            self._writer.join(timeout=5)
        super().close()


#: The batching handler `configure` installed, if any.
_active: list[BatchingHandler] = []


def close() -> None:
    """Write every queued log line (before os._exit, say)."""
    while _active:
        _active.pop().close()


atexit.register(close)


def configure(fmt: str = "text", level: str = "INFO", *, batched: bool = False) -> None:
    """Log to stderr as `fmt` from `level` up; `batched` (the server) writes from one thread
    in batches, others (CLI commands, where lines must interleave with output) at once."""
    # Library chatter (progress bars, advisory warnings about legacy config keys) goes to the
    # terminal outside the log format; keep it off unless asked for.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    close()
    handler: logging.Handler
    if batched:
        handler = BatchingHandler(sys.stderr)
        _active.append(handler)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s", "%H:%M:%S"
            )
        )
    # Neither format shows the caller's file and line, the thread or the process: skip looking
    # them up for every record (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter that says nothing an operator needs.
    for noisy in ("httpx", "huggingface_hub", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
