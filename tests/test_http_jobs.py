"""Document jobs: the job stores (memory, and Redis from Debian's `redis-server`) keep the same
promises (expiry, one download, a byte bound, usage per month), and two newsmt servers that
share Redis serve one DeepL document flow between them: upload to one, poll and download from
the other. Without redis-server the Redis tests are skipped, saying why, except under CI."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import deepl
import pytest

from newsmt.models.registry import Registry
from newsmt.server.http.jobs import DONE, Job, JobStore, MemoryJobStore, key_digest
from newsmt.server.http.redis_store import RedisJobStore

from .conftest import running_server
from .support import free_port, wait_for

KEY = "jobs-key-0123456789abcdef"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free port in a temp dir, stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    try:
        wait_for(up, 10, interval=0.05, what="redis-server listening")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def job(job_id: str, expires_in: float = 60.0, now: float | None = None) -> Job:
    now = time.time() if now is None else now
    return Job(job_id, key_digest("k"), DONE, "a.txt", "text/plain", now, now + expires_in)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[JobStore]:
    if request.param == "memory":
        yield MemoryJobStore(max_bytes=100)
        return
    url = request.getfixturevalue("redis_url")
    redis_store = RedisJobStore(url, max_bytes=100)
    redis_store._redis.flushdb()
    yield redis_store
    redis_store.close()


def test_a_result_is_taken_once_and_the_bound_holds(store: JobStore) -> None:
    a, b = job("A"), job("B")
    store.create(a)
    store.create(b)
    assert store.get("A") == a and store.get("nope") is None
    assert store.room(100) and not store.room(101)
    assert store.put_result(a, b"x" * 60)
    assert not store.room(41) and store.room(40)
    assert not store.put_result(b, b"y" * 41)  # over the bound: refused, nothing stored
    assert store.take_result("A") == b"x" * 60
    assert store.take_result("A") is None  # one download only
    assert store.put_result(b, b"y" * 100)  # the space came back
    store.update(Job(**{**b.__dict__, "status": "downloaded"}))
    assert store.get("B").status == "downloaded"  # type: ignore[union-attr]


def test_jobs_and_results_expire(store: JobStore) -> None:
    short = job("S", expires_in=0.3)
    store.create(short)
    assert store.put_result(short, b"z" * 100)
    wait_for(lambda: store.get("S") is None, 5, what="the job to expire")
    assert store.take_result("S") is None
    assert store.room(100)  # an expired result no longer counts


def test_usage_adds_up_per_key(store: JobStore) -> None:
    assert store.usage("token#0") == 0
    assert store.add_usage("token#0", 5) == 5
    assert store.add_usage("token#0", 7) == 12
    assert store.usage("token#1") == 0


def test_memory_store_forgets_last_months_usage() -> None:
    now = [time.mktime((2026, 10, 31, 12, 0, 0, 0, 0, 0))]
    store = MemoryJobStore(10, clock=lambda: now[0])
    store.add_usage("k", 9)
    now[0] += 3 * 24 * 3600  # November
    assert store.usage("k") == 0 and store.add_usage("k", 1) == 1


def test_two_servers_share_the_document_flow_through_redis(redis_url: str, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(KEY + "\n")
    registry = Registry.load().with_engine("identity")
    shared = {"auth_tokens_file": tokens, "job_store": redis_url}
    with (
        running_server(registry, model_dir=tmp_path / "a", **shared) as (one, _),
        running_server(registry, model_dir=tmp_path / "b", **shared) as (other, _),
    ):
        upload = deepl.Translator(KEY, server_url=f"http://127.0.0.1:{one.http_port}")
        poll = deepl.Translator(KEY, server_url=f"http://127.0.0.1:{other.http_port}")
        text = "Shared between replicas.\nSecond line.\n"
        handle = upload.translate_document_upload(text.encode(), target_lang="ES", filename="r.txt")
        status = poll.translate_document_wait_until_done(handle)
        assert status.done and status.billed_characters == len(text)
        out = io.BytesIO()
        poll.translate_document_download(handle, out)
        assert out.getvalue() == text.encode()
        # Downloaded once, on any replica: the first one has nothing left to give.
        with pytest.raises(deepl.DeepLException, match="Not found"):
            upload.translate_document_download(handle, io.BytesIO())
        # Usage is counted in Redis, so every replica reports the same.
        assert upload.get_usage().character.count == poll.get_usage().character.count > 0


def test_a_full_store_refuses_uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deepl.http_client, "max_network_retries", 0)  # see the first 429
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path, job_store_max_bytes=64) as (server, _):
        t = deepl.Translator("any-key", server_url=f"http://127.0.0.1:{server.http_port}")
        handle = t.translate_document_upload(b"a" * 60, target_lang="RU", filename="a.txt")
        assert t.translate_document_wait_until_done(handle).done
        with pytest.raises(deepl.TooManyRequestsException):
            t.translate_document_upload(b"b" * 10, target_lang="RU", filename="b.txt")
        t.translate_document_download(handle, io.BytesIO())  # frees its 60 bytes
        second = t.translate_document_upload(b"b" * 10, target_lang="RU", filename="b.txt")
        assert t.translate_document_wait_until_done(second).done
