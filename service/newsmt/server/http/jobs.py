"""Document jobs: upload, status, download once, expiry; kept in a job store.

DeepL's document flow and LibreTranslate's /download_file are asynchronous: the upload, the
status polls and the download may reach different replicas behind a load balancer. So a
job's record (status, name, type, billed characters, the SHA-256 of its secret key) and its
result live in a `JobStore`: this process's memory by default, or Redis (`redis_store.py`)
shared by every replica. The replica that took the upload translates it (the input bytes
never leave it); any replica answers status and result.

A record and its result expire `--job-ttl-s` after the upload; a result is deleted when it is
downloaded; results together stay within `--job-store-max-bytes`. Uploads queue for
`--document-workers` workers, at most `--max-queued-documents` at once. A worker takes an
admission slot like any call, so documents never outrun the limit on work in flight, and
translates within the server's default deadline. Jobs still queued when the server drains
are failed with a message saying to upload again; nothing waits forever.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Protocol
from urllib.parse import quote

from starlette.responses import Response

from newsmt.core.errors import NewsmtError, Overloaded, ServiceUnavailable
from newsmt.core.safelog import describe
from newsmt.server.calls import Call, Gate
from newsmt.server.http.documents import DocumentIn, DocumentOut, Documents
from newsmt.server.status import NotFound

log = logging.getLogger(__name__)

QUEUED = "queued"
TRANSLATING = "translating"
DONE = "done"
DOWNLOADED = "downloaded"
ERROR = "error"

#: How often a status request that waits for a job in progress looks again.
POLL_S = 0.05


@dataclass(frozen=True)
class Job:
    id: str
    key_hash: str  # SHA-256 of the secret key, hex; the key itself is never stored
    status: str
    name: str  # the file name the result is served under
    mime: str
    created: float  # epoch seconds
    expires: float  # epoch seconds
    owner: str = ""  # who uploaded it: a token identity or a peer host (never a token)
    chars: int = 0  # bytes of the input, for the time estimate
    started: float = 0.0  # epoch seconds when translation started
    billed_characters: int = 0
    source: str = ""  # the language translated from
    error_message: str = ""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Job:
        return cls(**json.loads(data))

    def key_matches(self, key: str) -> bool:
        return hmac.compare_digest(self.key_hash, key_digest(key))


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_job_id() -> str:
    return secrets.token_hex(16).upper()


def new_key() -> str:
    return secrets.token_hex(32).upper()


def month(now: float | None = None) -> str:
    """The usage period: the calendar month in UTC, "2026-11"."""
    return time.strftime("%Y-%m", time.gmtime(now))


class JobStore(Protocol):
    """Where jobs, their results and usage counters live. Every method may raise
    ServiceUnavailable when the store cannot be reached."""

    def create(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None:
        """The job, or None when it never existed or has expired."""
        ...

    def update(self, job: Job) -> None:
        """Replace the record; its expiry does not move."""
        ...

    def room(self, size: int) -> bool:
        """Whether `size` more bytes of results fit now."""
        ...

    def put_result(self, job: Job, data: bytes) -> bool:
        """Keep the result until the job expires; False when it does not fit."""
        ...

    def take_result(self, job_id: str) -> bytes | None:
        """The result, removed in the same step: only one download ever gets it."""
        ...

    def add_usage(self, key: str, chars: int) -> int:
        """Count `chars` for `key` in this month; returns the month's total."""
        ...

    def usage(self, key: str) -> int: ...

    def close(self) -> None: ...


class MemoryJobStore:
    """Jobs in this process: right for one replica (or a balancer with sticky sessions)."""

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self.max_bytes = max_bytes
        self.clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._results: dict[str, bytes] = {}
        self._bytes = 0
        self._usage: dict[tuple[str, str], int] = {}

    def _sweep(self) -> None:
        now = self.clock()
        for job_id in [j for j, job in self._jobs.items() if job.expires <= now]:
            del self._jobs[job_id]
            self._bytes -= len(self._results.pop(job_id, b""))

    def create(self, job: Job) -> None:
        with self._lock:
            self._sweep()
            self._jobs[job.id] = job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.expires <= self.clock():
                self._sweep()
                return None
            return job

    def update(self, job: Job) -> None:
        with self._lock:
            if job.id in self._jobs:
                self._jobs[job.id] = replace(job, expires=self._jobs[job.id].expires)

    def room(self, size: int) -> bool:
        with self._lock:
            self._sweep()
            return self._bytes + size <= self.max_bytes

    def put_result(self, job: Job, data: bytes) -> bool:
        with self._lock:
            self._sweep()
            if job.id not in self._jobs or self._bytes + len(data) > self.max_bytes:
                return False
            self._bytes += len(data) - len(self._results.get(job.id, b""))
            self._results[job.id] = data
            return True

    def take_result(self, job_id: str) -> bytes | None:
        with self._lock:
            data = self._results.pop(job_id, None)
            if data is not None:
                self._bytes -= len(data)
            return data

    def add_usage(self, key: str, chars: int) -> int:
        with self._lock:
            period = (month(self.clock()), key)
            # Only this month's counters are kept.
            for old in [p for p in self._usage if p[0] != period[0]]:
                del self._usage[old]
            self._usage[period] = self._usage.get(period, 0) + chars
            return self._usage[period]

    def usage(self, key: str) -> int:
        with self._lock:
            return self._usage.get((month(self.clock()), key), 0)

    def close(self) -> None:
        pass


class DocumentJobs:
    """Takes uploads, translates them on worker threads, answers status and results."""

    def __init__(
        self,
        store: JobStore,
        documents: Documents,
        gate: Gate,
        *,
        workers: int,
        max_queued: int,
        ttl_s: float,
        method: str,
        protocol: str,
        on_done: Callable[[Job], None] | None = None,
    ) -> None:
        self.store = store
        self.documents = documents
        self.gate = gate
        self.ttl_s = ttl_s
        self.max_queued = max_queued
        self.method = method
        self.protocol = protocol
        self.on_done = on_done
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="document")
        self._lock = threading.Lock()
        self._queued: dict[str, Job] = {}
        self._closed = False
        #: Seconds per input character of recent jobs here (for seconds_remaining).
        self._seconds_per_char: float | None = None

    # -- jobs as the compatible APIs see them ------------------------------------------------

    def new_job(self, document: DocumentIn, *, owner: str, status: str = QUEUED) -> tuple[Job, str]:
        """A job record for `document` and its secret key (not stored yet)."""
        self.documents.check(document.name)
        now = time.time()
        key = new_key()
        job = Job(
            id=new_job_id(),
            key_hash=key_digest(key),
            status=status,
            name=document.name,
            mime=document.mime,
            created=now,
            expires=now + self.ttl_s,
            owner=owner,
            chars=len(document.data),
        )
        return job, key

    def submit(self, document: DocumentIn, *, owner: str) -> tuple[Job, str]:
        """Queue `document` for translation: (job, key). Overloaded when the queue or the
        store is full."""
        job, key = self.new_job(document, owner=owner)
        if not self.store.room(len(document.data)):
            raise Overloaded("the job store is full of results not yet downloaded", 5.0)
        with self._lock:
            if self._closed:
                raise ServiceUnavailable("server is shutting down; upload to another replica")
            if len(self._queued) >= self.max_queued:
                raise Overloaded(f"{len(self._queued)} documents queued", 1.0)
            self._queued[job.id] = job
        self.store.create(job)
        self._pool.submit(self._run, job, document)
        return job, key

    def store_result(self, job: Job, out: DocumentOut) -> Job:
        """Record a finished translation (LibreTranslate translates within the upload)."""
        done = _finished(job, out)
        self.store.create(done)
        if not self.store.put_result(done, out.data):
            raise Overloaded("the job store is full of results not yet downloaded", 5.0)
        return done

    def find(self, job_id: str, key: str | None) -> Job:
        """The job, if `key` is its key (None: no key needed, the id is the secret)."""
        job = self.store.get(job_id)
        if job is None or (key is not None and not job.key_matches(key)):
            raise NotFound("document not found (wrong id or key, or expired)")
        return job

    def wait(self, job: Job, seconds: float) -> Job:
        """The job once it is done or failed, or as it is after `seconds`: a poll that finds
        a short job in progress answers when it ends, not a poll interval later."""
        deadline = time.monotonic() + seconds
        while job.status in (QUEUED, TRANSLATING) and time.monotonic() < deadline:
            time.sleep(POLL_S)
            job = self.store.get(job.id) or job
        return job

    def take(self, job: Job) -> bytes:
        """The result of a done job, deleted as it is read: a second download is NotFound."""
        data = self.store.take_result(job.id)
        if data is None:
            raise NotFound("document already downloaded or expired")
        self.store.update(replace(job, status=DOWNLOADED))
        return data

    def seconds_remaining(self, job: Job) -> int | None:
        rate = self._seconds_per_char
        if rate is None or job.status not in (QUEUED, TRANSLATING):
            return None
        elapsed = time.time() - job.started if job.status == TRANSLATING else 0.0
        return max(1, math.ceil(job.chars * rate - elapsed))

    # -- the workers ---------------------------------------------------------------------------

    def _run(self, job: Job, document: DocumentIn) -> None:
        with self._lock:
            if self._queued.pop(job.id, None) is None:
                return  # failed by close() while queued
        call = Call(self.gate, self.method, protocol=self.protocol, metadata=None, peer=str)
        try:
            self._admit(call, job)
            call.open(None)
            job = replace(job, status=TRANSLATING, started=time.time())
            self.store.update(job)
            out = self.documents.translate(document)
            done = _finished(job, out)
            if not self.store.put_result(done, out.data):
                raise Overloaded("the job store is full of results not yet downloaded", 5.0)
            self.store.update(done)
            self._learn(job, time.time() - job.started)
            if self.on_done is not None:
                self.on_done(done)
        except NewsmtError as exc:
            call.fail(exc)
            self._fail(job, exc.message)
        except Exception as exc:
            log.error("document job failed: %s", describe(exc))
            call.fail("INTERNAL")
            self._fail(job, "internal error")
        finally:
            call.end()

    def _admit(self, call: Call, job: Job) -> None:
        """Admission, waiting while the server is at capacity (the job stays queued), up to
        the server's default deadline."""
        deadline = time.monotonic() + self.gate.default_timeout
        while True:
            try:
                call.enter()
                return
            except Overloaded as exc:
                if time.monotonic() + exc.retry_after > deadline:
                    raise
                time.sleep(exc.retry_after)

    def _learn(self, job: Job, seconds: float) -> None:
        if job.chars <= 0:
            return
        rate = seconds / job.chars
        with self._lock:
            old = self._seconds_per_char
            self._seconds_per_char = rate if old is None else 0.7 * old + 0.3 * rate

    def _fail(self, job: Job, message: str) -> None:
        try:
            self.store.update(replace(job, status=ERROR, error_message=message))
        except NewsmtError as exc:
            log.error("document job %s: cannot record its failure: %s", job.id, exc.message)

    def close(self) -> None:
        """Fail the jobs still queued (the input is only here) and stop the workers; a job
        being translated is a call in flight, which the drain waits for."""
        with self._lock:
            self._closed = True
            queued, self._queued = list(self._queued.values()), {}
        for job in queued:
            self._fail(job, "the server shut down before translating it; upload it again")
        self._pool.shutdown(wait=False, cancel_futures=True)


def _finished(job: Job, out: DocumentOut) -> Job:
    return replace(
        job,
        status=DONE,
        name=out.name,
        mime=out.mime,
        billed_characters=out.billed_characters,
        source=out.source,
    )


def file_response(job: Job, data: bytes) -> Response:
    """A result file as an attachment under its name (RFC 6266: an ASCII fallback and the
    UTF-8 name)."""
    name = "".join(c for c in job.name if c.isprintable() and c not in '"\\')
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return Response(
        data,
        200,
        {
            "Content-Disposition": f'attachment; filename="{fallback}"; '
            f"filename*=UTF-8''{quote(name, safe='')}"
        },
        job.mime or "application/octet-stream",
    )
