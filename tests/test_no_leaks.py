"""Article text is private: a sentinel sent through every path, failing ones included, must
appear in no log line, status message, error detail, trailer or metric."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from newsmt.client import Client, NewsmtError
from newsmt.models.registry import Registry
from newsmt.server.app import NewsmtServer
from newsmt.server.logs import JsonFormatter
from newsmt.v1 import translation_pb2, translation_pb2_grpc

from .conftest import running_server
from .support import scrape

SENTINEL = "ZQXJ-sentinel-4417"
TEXT = f"The envoy said {SENTINEL} to reporters. Then {SENTINEL} again."


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Collect]:
    handler = Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def failures(call: Any) -> list[str]:
    """Everything a caller can see of a failed call: code, message, details, trailers."""
    try:
        call()
    except NewsmtError as exc:
        return [str(exc), exc.message, repr(getattr(exc, "violations", ""))]
    except grpc.RpcError as exc:
        return [str(exc.details()), repr(exc.trailing_metadata())]  # type: ignore[attr-defined]
    return []


def test_sentinel_goes_nowhere(logs: Collect, tmp_path: Path) -> None:
    registry = Registry.load().with_engine("identity")
    seen: list[str] = []
    with running_server(registry, model_dir=tmp_path, max_segment_chars=200, log_level="DEBUG") as (
        server,
        address,
    ):
        _break_engine(server, "opus-mt-en-es")
        with Client(address, timeout=10, retries=0) as client:
            # Paths that succeed.
            client.translate([TEXT], target="ru")
            client.detect_language([TEXT])
            client.summarize(TEXT, target="ru")
            client.process_article(TEXT, TEXT, targets=["ru", "es"], summaries=["en", "es"])
            # Paths that fail.
            seen += failures(lambda: client.translate([TEXT], source=SENTINEL, target="ru"))
            seen += failures(lambda: client.translate([TEXT], source="en", target=SENTINEL))
            seen += failures(lambda: client.translate([TEXT * 20], source="en", target="ru"))
            seen += failures(
                lambda: client.translate([TEXT], source="en", target="es")
            )  # engine raises
            seen += failures(lambda: client.summarize(TEXT * 400, source="en", long_input="reject"))
            seen += failures(lambda: client.translate([TEXT] * 500, source="en", target="ru"))
            seen += failures(lambda: client.process_article(TEXT, TEXT, targets=[SENTINEL]))
            seen += failures(
                lambda: client.translate([TEXT], source="en", target="ru", timeout=0.0001)
            )
        with Client(address, token=SENTINEL, timeout=10, retries=0) as client:
            seen += failures(client.list_models)  # no auth configured: nothing to echo
        with grpc.insecure_channel(address) as channel:
            raw = channel.unary_unary(
                "/newsmt.v1.TranslationService/Translate",
                request_serializer=lambda b: b,
                response_deserializer=translation_pb2.TranslateResponse.FromString,
            )
            bad_utf8 = b"\n\x1a\x12\x18" + SENTINEL.encode() + b"\xff\xfe" + b"\x1a\x02ru"
            seen += failures(lambda: raw(bad_utf8, timeout=5))
            stub = translation_pb2_grpc.TranslationServiceStub(channel)
            seen += failures(
                lambda: stub.Translate(
                    translation_pb2.TranslateRequest(target_language_code="ru"),
                    metadata=[("x-request-id", "ok"), ("x-note", SENTINEL)],
                    timeout=5,
                )
            )
        metrics = scrape(server.metrics_port)
    assert (
        len(seen) > 10
        and any("INVALID_ARGUMENT" in s for s in seen)
        and any("INTERNAL" in s for s in seen)
    )
    assert logs.lines, "nothing was logged: the test would prove nothing"
    assert any('"method"' in line for line in logs.lines)
    for where, text in [
        ("logs", "\n".join(logs.lines)),
        ("errors", "\n".join(seen)),
        ("metrics", metrics),
    ]:
        assert SENTINEL not in text, f"request text leaked into {where}"


def test_unknown_never_reaches_a_caller(tmp_path: Path) -> None:
    """A bug in a handler maps to INTERNAL with a generic message, never UNKNOWN."""
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path) as (server, address):
        server.translator.translate = _explode  # type: ignore[method-assign]
        with Client(address, retries=0) as client, pytest.raises(NewsmtError) as info:
            client.translate([TEXT], source="en", target="ru")
    assert info.value.code is grpc.StatusCode.INTERNAL
    assert info.value.message == "internal error"


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise KeyError(f"bug while handling {TEXT}")


def _break_engine(server: NewsmtServer, model: str) -> None:
    engine = server.pool.info(model).engine
    assert engine is not None

    def generate(batch: Any, **kw: Any) -> Any:
        raise RuntimeError(f"engine blew up on {''.join(batch[0])}")

    engine.generate = generate  # type: ignore[method-assign]
