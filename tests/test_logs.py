"""The server's log handler: formatted in the logging thread, written in batches, none lost."""

from __future__ import annotations

import io
import json
import logging
import threading

from newsmt.server.context import RequestIdFilter, request_id_var
from newsmt.server.logs import BatchingHandler, JsonFormatter


def test_batched_lines_keep_order_request_ids_and_all_arrive_by_close() -> None:
    stream = io.StringIO()
    handler = BatchingHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("newsmt.test-batching")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def work(thread: int) -> None:
        request_id_var.set(f"req-{thread}")  # each thread its own context
        for i in range(200):
            logger.info("line %d", i, extra={"thread_no": thread})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handler.close()  # what `newsmt serve` does before it leaves: nothing may be lost
    logger.removeHandler(handler)

    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(entries) == 8 * 200
    for thread in range(8):
        mine = [e for e in entries if e["thread_no"] == thread]
        assert [e["message"] for e in mine] == [f"line {i}" for i in range(200)]
        assert {e["request_id"] for e in mine} == {f"req-{thread}"}
    handler.close()  # twice is harmless


def test_access_line_has_sizes_and_languages_never_free_text(
    identity_client,
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    import pytest

    from newsmt.client import InvalidArgumentError

    caplog.set_level(logging.INFO, logger="newsmt.access")
    identity_client.translate(["Hello there."], source="en", target="ru")
    with pytest.raises(InvalidArgumentError):
        identity_client.translate(["Hello."], target="SECRET-SENTINEL words")
    lines = [r for r in caplog.records if r.name == "newsmt.access"]
    ok = next(r for r in lines if r.code == "OK")  # type: ignore[attr-defined]
    assert ok.languages == "en->ru"  # type: ignore[attr-defined]
    assert ok.request_bytes > 0 and ok.response_bytes > ok.request_bytes  # type: ignore[attr-defined]
    bad = next(r for r in lines if r.code == "INVALID_ARGUMENT")  # type: ignore[attr-defined]
    assert bad.languages == "auto->?"  # type: ignore[attr-defined]
    assert bad.response_bytes == 0  # type: ignore[attr-defined]
    assert all("SECRET-SENTINEL" not in r.getMessage() for r in lines)


def test_the_start_line_says_how_each_model_runs_its_engine_calls(
    tmp_path,
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    from newsmt.models.registry import Registry

    from .conftest import running_server

    caplog.set_level(logging.INFO, logger="newsmt.server.app")
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path, inter_threads=1, intra_threads=1):
        pass
    [start] = [r.getMessage() for r in caplog.records if "loading models" in r.getMessage()]
    assert "1 engine call(s) at once, 1 thread(s) each" in start
