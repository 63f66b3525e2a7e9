"""The native REST API against real servers: every annotated route answers with the proto3 JSON
of its RPC, exactly what gRPC answers; documents round-trip byte for byte on the identity
engine; streams as NDJSON and SSE; errors as google.rpc.Status with details and the standard
HTTP status; /openapi.json validates; auth, rate limits, admission, deadlines and hang-ups
behave as for gRPC, through the same call pipeline; the drain treats both protocols alike."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import json_format
from google.protobuf.message import Message
from openapi_spec_validator import validate

from newsmt.client import Client, UnavailableError
from newsmt.models.registry import Registry
from newsmt.server.app import NewsmtServer
from newsmt.server.http.routes import routes
from newsmt.server.http.server import PROTO_FILES
from newsmt.v1 import (
    article_pb2,
    article_pb2_grpc,
    common_pb2,
    summarization_pb2,
    summarization_pb2_grpc,
    translation_pb2,
    translation_pb2_grpc,
)

from . import files_samples, support
from .conftest import running_server, seed_text
from .test_documents_roundtrip import HTML_CASES, MARKDOWN_CASES, PLAIN_CASES
from .test_hardening import Gated

TOKEN = "http-token-0123456789abcdef"


def url(server: NewsmtServer, path: str = "") -> str:
    return f"http://127.0.0.1:{server.http_port}{path}"


def post(server: NewsmtServer, path: str, body: Any, **kw: Any) -> requests.Response:
    return requests.post(url(server, path), json=body, timeout=30, **kw)


def as_message(response: requests.Response, message_type: type[Message]) -> Message:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return json_format.Parse(response.text, message_type())


def translate_body(text: str, fmt: str = "TEXT_FORMAT_PLAIN") -> dict[str, Any]:
    return {
        "segments": [{"id": "s1", "text": text}],
        "sourceLanguageCode": "en",
        "targetLanguageCode": "ru",
        "format": fmt,
    }


@pytest.fixture(scope="module")
def grpc_stubs(identity_server: tuple[NewsmtServer, str]) -> Iterator[dict[str, Any]]:
    with grpc.insecure_channel(identity_server[1]) as channel:
        yield {
            "TranslationService": translation_pb2_grpc.TranslationServiceStub(channel),
            "SummarizationService": summarization_pb2_grpc.SummarizationServiceStub(channel),
            "ArticleService": article_pb2_grpc.ArticleServiceStub(channel),
        }


def _same_as_grpc(
    server: NewsmtServer, stubs: dict[str, Any], service: str, rpc: str, request: Message
) -> None:
    """The route of `rpc` answers what gRPC answers for the same request."""
    [route] = [r for r in routes(PROTO_FILES) if r.method.name == rpc]
    expected = getattr(stubs[service], rpc)(request, timeout=30)
    if route.verb == "GET":
        response = requests.get(url(server, route.template), timeout=30)
    else:
        response = post(server, route.template, json_format.MessageToDict(request))
    got = as_message(response, type(expected))
    if isinstance(expected, translation_pb2.TranslateResponse):
        for translation in (*got.translations, *expected.translations):  # type: ignore[attr-defined]
            translation.cached_units = 0  # the second asking is answered from the cache
    if isinstance(expected, translation_pb2.TranslateDocumentResponse):
        got.cached_units = expected.cached_units = 0  # type: ignore[attr-defined]
    assert got == expected, rpc
    # Every field is in the JSON, defaults included (no absent-means-false guessing).
    fields = {f.json_name for f in expected.DESCRIPTOR.fields}
    assert fields <= set(response.json()), rpc


def test_every_route_answers_the_proto3_json_of_its_rpc(
    identity_server: tuple[NewsmtServer, str], grpc_stubs: dict[str, Any]
) -> None:
    server, _ = identity_server
    seed = seed_text()
    cases = [
        ("TranslationService", "Translate", translation_pb2.TranslateRequest(**_t(seed))),
        (
            "TranslationService",
            "DetectLanguage",
            translation_pb2.DetectLanguageRequest(texts=["Hello there, friends.", "Привет всем."]),
        ),
        (
            "TranslationService",
            "TranslateDocument",
            translation_pb2.TranslateDocumentRequest(
                content=files_samples.docx_file(),
                file_name="report.docx",
                target_language_code="ru",
            ),
        ),
        ("TranslationService", "ListLanguages", translation_pb2.ListLanguagesRequest()),
        ("TranslationService", "ListModels", translation_pb2.ListModelsRequest()),
        (
            "SummarizationService",
            "Summarize",
            summarization_pb2.SummarizeRequest(
                text=seed,
                target_language_code="en",
                length=common_pb2.SummaryLength(max_sentences=2),
            ),
        ),
        (
            "ArticleService",
            "ProcessArticle",
            article_pb2.ProcessArticleRequest(
                id="a1",
                title="Title.",
                body=seed,
                source_language_code="en",
                target_language_codes=["ru", "es"],
                summary_language_codes=["en"],
            ),
        ),
    ]
    covered = {rpc for _, rpc, _ in cases} | {"TranslateStream"}
    assert covered == {r.method.name for r in routes(PROTO_FILES)}, "a route is untested"
    for service, rpc, request in cases:
        _same_as_grpc(server, grpc_stubs, service, rpc, request)


def _t(text: str) -> dict[str, Any]:
    return {
        "segments": [translation_pb2.Segment(id="x", text=text)],
        "source_language_code": "en",
        "target_language_code": "es",
    }


@pytest.mark.parametrize(
    ("fmt", "source"),
    [("TEXT_FORMAT_HTML", c) for c in HTML_CASES]
    + [("TEXT_FORMAT_MARKDOWN", c) for c in MARKDOWN_CASES]
    + [("TEXT_FORMAT_PLAIN", c) for c in PLAIN_CASES],
)
def test_identity_round_trip_byte_for_byte_as_over_grpc(
    identity_server: tuple[NewsmtServer, str],
    grpc_stubs: dict[str, Any],
    fmt: str,
    source: str,
) -> None:
    server, _ = identity_server
    response = post(server, "/v1/translate", translate_body(source, fmt))
    assert response.status_code == 200
    text = response.json()["translations"][0]["translatedText"]
    assert text == source
    assert text.encode("utf-8") == source.encode("utf-8")
    request = json_format.ParseDict(translate_body(source, fmt), translation_pb2.TranslateRequest())
    over_grpc = grpc_stubs["TranslationService"].Translate(request, timeout=30)
    assert over_grpc.translations[0].translated_text == text


def test_stream_as_ndjson_and_sse(identity_server: tuple[NewsmtServer, str]) -> None:
    server, _ = identity_server
    article = seed_text()
    body = translate_body(article)
    with requests.post(
        url(server, "/v1/translate:stream"), json=body, stream=True, timeout=30
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in r.iter_lines() if line]
    units = [e["unit"]["text"] for e in events if "unit" in e]
    assert len(units) > 3 and "".join(units) == article
    assert "segmentDone" in events[-2] and events[-1]["done"]["units"] == len(units)
    headers = {"accept": "text/event-stream"}
    with requests.post(
        url(server, "/v1/translate:stream"), json=body, headers=headers, stream=True, timeout=30
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        frames = [f for f in r.text.split("\n\n") if f]
    data = [json.loads(f.removeprefix("data: ")) for f in frames]
    assert "".join(d["unit"]["text"] for d in data if "unit" in d) == article


def test_stream_refused_before_its_first_event_gets_its_own_status(
    identity_server: tuple[NewsmtServer, str],
) -> None:
    server, _ = identity_server
    body = {"segments": [{"text": "Hi."}], "targetLanguageCode": "xx"}
    r = post(server, "/v1/translate:stream", body)
    assert r.status_code == 400
    assert r.json()["details"][0]["fieldViolations"][0]["field"] == "target_language_code"


def test_errors_are_google_rpc_status_with_details(
    identity_server: tuple[NewsmtServer, str],
) -> None:
    server, _ = identity_server
    r = post(server, "/v1/translate", {"segments": [{"text": "x"}], "targetLanguageCode": "SECRET"})
    assert r.status_code == 400
    status = r.json()
    assert status["code"] == 3 and "target_language_code" in status["message"]
    [detail] = status["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert detail["fieldViolations"][0]["field"] == "target_language_code"
    assert "SECRET" not in r.text
    assert r.headers["x-request-id"]
    # Unknown fields, wrong types and bad JSON are refused, naming the field, never quoting.
    for body, field in (
        (b'{"segmnts": []}', "segmnts"),
        (b'{"segments": [{"text": 5}]}', "segments.text"),
        (b'{"format": "SECRET_FORMAT"}', "format"),
        (b'{"segments": ', ""),
        (b"[" * 100 + b"]" * 100, ""),
        (b'"just a string"', ""),
    ):
        r = requests.post(
            url(server, "/v1/translate"),
            data=body,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert r.status_code == 400, body
        violation = r.json()["details"][0]["fieldViolations"][0]
        assert violation.get("field", "") == field, body
        assert "SECRET" not in r.text
    r = requests.post(url(server, "/v1/translate"), data="segments=x", timeout=30)
    assert r.status_code == 415
    assert requests.get(url(server, "/v1/nothing"), timeout=30).status_code == 404
    assert requests.get(url(server, "/v1/translate"), timeout=30).status_code == 405


def test_body_limit_is_413(tmp_path: Path) -> None:
    registry = Registry.load().with_engine("identity")
    with running_server(
        registry, model_dir=tmp_path, max_message_bytes=4096, max_document_bytes=2048
    ) as (server, _):
        big = translate_body("x" * 5000)
        r = post(server, "/v1/translate", big)
        assert r.status_code == 413
        assert r.json()["code"] == 3
        # Without a Content-Length the limit holds too (chunked upload).
        chunks = iter([json.dumps(big).encode()[i : i + 1000] for i in range(0, 6000, 1000)])
        r = requests.post(
            url(server, "/v1/translate"),
            data=chunks,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert r.status_code == 413
        assert post(server, "/v1/translate", translate_body("small.")).status_code == 200


def test_requests_at_the_document_limit_fit_however_json_encodes_them(tmp_path: Path) -> None:
    """A file at --max-document-bytes travels as base64 (a third larger) and Russian text as
    Python's json.dumps writes it (every letter "\\u0416", three times its UTF-8): both bodies
    are larger than --max-message-bytes, and both are served, because the limit holds for what
    the body decodes to, as on gRPC. A document one byte over its limit is still refused."""
    registry = Registry.load().with_engine("identity")
    limit = 60_000
    text = (
        ("Шторм закрыл главный мост на два дня. " * 2000).encode()[:limit].decode("utf-8", "ignore")
    )
    settings = {"max_document_bytes": limit, "max_message_bytes": limit + 2048}
    with running_server(registry, model_dir=tmp_path, **settings) as (server, _):
        document = {
            "content": base64.b64encode(text.encode()).decode(),
            "fileName": "article.txt",
            "sourceLanguageCode": "ru",
            "targetLanguageCode": "en",
        }
        assert len(json.dumps(document)) > settings["max_message_bytes"]
        r = post(server, "/v1/documents:translate", document)
        assert r.status_code == 200, r.text
        assert base64.b64decode(r.json()["content"]).decode() == text

        body = translate_body(text) | {"sourceLanguageCode": "ru", "targetLanguageCode": "en"}
        assert len(json.dumps(body)) > 2 * settings["max_message_bytes"]
        r = post(server, "/v1/translate", body)
        assert r.status_code == 200, r.text
        assert r.json()["translations"][0]["translatedText"] == text

        document["content"] = base64.b64encode(text.encode().ljust(limit + 1, b" ")).decode()
        r = post(server, "/v1/documents:translate", document)
        assert r.status_code == 400, r.text
        assert "--max-document-bytes" in r.text


def test_openapi_describes_the_annotated_routes_and_validates(
    identity_server: tuple[NewsmtServer, str],
) -> None:
    server, _ = identity_server
    spec = requests.get(url(server, "/openapi.json"), timeout=30).json()
    validate(spec)
    expected = {(r.template, r.verb.lower()) for r in routes(PROTO_FILES)}
    found = {(path, verb) for path, item in spec["paths"].items() for verb in item}
    assert found == expected
    translate = spec["paths"]["/v1/translate"]["post"]
    schema = translate["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/newsmt.v1.TranslateRequest"}
    request = spec["components"]["schemas"]["newsmt.v1.TranslateRequest"]
    assert {"segments", "sourceLanguageCode", "targetLanguageCode", "format", "glossary"} <= set(
        request["properties"]
    )
    assert "429" in translate["responses"]


def test_keep_alive_requests_do_not_wait_for_delayed_acks(
    identity_server: tuple[NewsmtServer, str],
) -> None:
    """Without TCP_NODELAY a response written in two parts waits ~40 ms for the client's
    delayed ACK on every request after a connection's first (the bench saw 360 requests/s)."""
    server, _ = identity_server
    with socket.create_connection(("127.0.0.1", server.http_port or 0)) as sock:
        started = time.monotonic()
        for _ in range(10):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"SERVING" not in data:
                data += sock.recv(4096)
        assert time.monotonic() - started < 0.3


def test_health_and_readiness(identity_server: tuple[NewsmtServer, str]) -> None:
    server, _ = identity_server
    assert requests.get(url(server, "/healthz"), timeout=5).json() == {"status": "SERVING"}
    assert requests.get(url(server, "/readyz"), timeout=5).status_code == 200


def test_request_id_is_taken_or_made_and_logged(
    identity_server: tuple[NewsmtServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = identity_server
    caplog.set_level("INFO", logger="newsmt.access")
    r = post(server, "/v1/translate", translate_body("Hello."), headers={"x-request-id": "req-42"})
    assert r.headers["x-request-id"] == "req-42"
    assert len(post(server, "/v1/translate", translate_body("Hi.")).headers["x-request-id"]) == 32
    line = next(rec for rec in caplog.records if getattr(rec, "request_id", "") == "req-42")
    assert line.protocol == "http"  # type: ignore[attr-defined]
    assert line.method == "/newsmt.v1.TranslationService/Translate"  # type: ignore[attr-defined]
    assert line.languages == "en->ru"  # type: ignore[attr-defined]
    assert all("Hello" not in rec.getMessage() for rec in caplog.records)


def test_metrics_count_each_protocol(identity_server: tuple[NewsmtServer, str]) -> None:
    server, address = identity_server
    method = "/newsmt.v1.TranslationService/Translate"
    before = support.scrape(server.metrics_port or 0)

    def count(text: str, protocol: str) -> float:
        return support.metric(
            text, "newsmt_requests_total", missing=0.0, method=method, code="OK", protocol=protocol
        )

    for _ in range(3):
        assert post(server, "/v1/translate", translate_body("Counted.")).status_code == 200
    with Client(address) as client:
        client.translate(["Counted too."], source="en", target="ru")
    after = support.scrape(server.metrics_port or 0)
    assert count(after, "http") - count(before, "http") == 3
    assert count(after, "grpc") - count(before, "grpc") == 1


def test_cors_is_off_unless_origins_are_named(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path
) -> None:
    server, _ = identity_server
    origin = {"origin": "https://newsroom.example"}
    r = requests.options(
        url(server, "/v1/translate"),
        headers={**origin, "access-control-request-method": "POST"},
        timeout=5,
    )
    assert "access-control-allow-origin" not in r.headers
    assert (
        "access-control-allow-origin"
        not in post(server, "/v1/translate", translate_body("x."), headers=origin).headers
    )
    registry = Registry.load().with_engine("identity")
    with running_server(
        registry, model_dir=tmp_path, http_cors_origins="https://newsroom.example"
    ) as (cors, _):
        r = requests.options(
            url(cors, "/v1/translate"),
            headers={**origin, "access-control-request-method": "POST"},
            timeout=5,
        )
        assert r.headers["access-control-allow-origin"] == "https://newsroom.example"
        other = {"origin": "https://elsewhere.example"}
        r = post(cors, "/v1/translate", translate_body("x."), headers=other)
        assert "access-control-allow-origin" not in r.headers


def test_bearer_token_and_rate_limit_as_for_grpc(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")
    registry = Registry.load().with_engine("identity")
    with running_server(
        registry,
        model_dir=tmp_path,
        auth_tokens_file=tokens,
        rate_limit_rps=1,
        rate_limit_burst=3,
    ) as (server, _):
        r = post(server, "/v1/translate", translate_body("x."))
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["code"] == 16
        bad = {"authorization": "Bearer wrong-token-0123456789"}
        assert post(server, "/v1/translate", translate_body("x."), headers=bad).status_code == 401
        good = {"authorization": f"Bearer {TOKEN}"}
        codes = [
            post(server, "/v1/translate", translate_body("x."), headers=good) for _ in range(4)
        ]
        assert [r.status_code for r in codes[:2]] == [200, 200]
        limited = codes[-1]
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        types = {d["@type"].rsplit(".", 1)[1] for d in limited.json()["details"]}
        assert {"RetryInfo", "QuotaFailure"} <= types
        # Probes need no token.
        assert requests.get(url(server, "/readyz"), timeout=5).status_code == 200


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[tuple[NewsmtServer, str]]:
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path, max_inflight_requests=2) as running:
        yield running


def test_admission_and_deadline_as_for_grpc(small_server: tuple[NewsmtServer, str]) -> None:
    server, _ = small_server
    gate = Gated(server, "opus-mt-en-ru")
    with ThreadPoolExecutor(2) as pool:
        held = [
            pool.submit(post, server, "/v1/translate", translate_body(f"held {i}."))
            for i in range(2)
        ]
        support.wait_for(lambda: server.admission.inflight == 2, 10, what="two calls admitted")
        refused = post(server, "/v1/translate", translate_body("one too many."))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["code"] == 8
        gate.open.set()
        assert all(f.result(timeout=30).status_code == 200 for f in held)
    gate.open.clear()
    gate.entered.clear()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, server, "/v1/translate", translate_body("first."))
        assert gate.entered.wait(10)
        started = time.monotonic()
        late = post(
            server, "/v1/translate", translate_body("LATE."), headers={"grpc-timeout": "300m"}
        )
        assert late.status_code == 504 and late.json()["code"] == 4
        assert time.monotonic() - started < 3
        bad = post(server, "/v1/translate", translate_body("x."), headers={"grpc-timeout": "soon"})
        assert bad.status_code == 400
        gate.open.set()
        assert first.result(timeout=30).status_code == 200
    assert not any("LATE" in text for text in gate.seen)


def test_a_client_that_hangs_up_frees_its_queued_work(
    small_server: tuple[NewsmtServer, str],
) -> None:
    """As test_cancelled_while_queued_costs_no_engine_call, over HTTP: the queued request's
    connection closes, and its work leaves the queue before the engine frees up."""
    server, _ = small_server
    gate = Gated(server, "opus-mt-en-ru")
    batcher = server.pool.info("opus-mt-en-ru").batcher
    assert batcher is not None
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, server, "/v1/translate", translate_body("first in the engine."))
        assert gate.entered.wait(10)
        body = json.dumps(translate_body("CANCEL-ME while queued.")).encode()
        head = (
            f"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.http_port or 0)) as sock:
            sock.sendall(head + body)
            support.wait_for(lambda: batcher.queue_depth() == 1, 10, what="the call queued")
        # The socket is closed: long before the engine frees up, the work is gone.
        support.wait_for(lambda: batcher.queue_depth() == 0, 10, what="work out of the queue")
        gate.open.set()
        response = first.result(timeout=30)
        assert response.json()["translations"][0]["translatedText"] == "first in the engine."
    assert not any("CANCEL-ME" in text for text in gate.seen)
    assert batcher.stats.dropped_cancelled == 1
    support.wait_for(lambda: server.admission.inflight == 0, 10, what="admission released")


def test_a_stream_reader_that_hangs_up_stops_the_stream(tmp_path: Path) -> None:
    """A stream of 40 sentences in engine calls of 2, every call after the first held: the
    reader hangs up after the first unit, and the stream's work ends there (uncancelled, it
    takes 21 calls)."""
    registry = Registry.load().with_engine("identity")
    with running_server(
        registry, model_dir=tmp_path, max_batch_size=2, inter_threads=1, intra_threads=1
    ) as (server, _):
        engine = server.pool.info("opus-mt-en-ru").engine
        assert engine is not None
        inner, calls, release = engine.generate, [], threading.Event()

        def generate(batch: Any, **kw: Any) -> Any:
            calls.append(len(batch))
            if len(calls) > 1:
                release.wait(30)
            return inner(batch, **kw)

        engine.generate = generate  # type: ignore[method-assign]
        article = " ".join(f"Sentence number {i} is here." for i in range(40))
        with requests.post(
            url(server, "/v1/translate:stream"),
            json=translate_body(article),
            stream=True,
            timeout=30,
        ) as r:
            first = next(r.iter_lines(chunk_size=1))
            assert json.loads(first)["unit"]["unitIndex"] == 0
        # The server notices the hang-up (while the engine is still held) and cancels the call.
        support.wait_for(
            lambda: all(ctx.cancelled for ctx in list(server.gate.live)),
            10,
            what="the stream's request context cancelled",
        )
        release.set()
        support.wait_for(lambda: server.admission.inflight == 0, 10, what="the stream to end")
        # At most one group may have been submitted as the hang-up landed; not the rest.
        assert len(calls) <= 3, calls


def test_drain_treats_http_and_grpc_alike(tmp_path: Path) -> None:
    """What SIGTERM runs (`NewsmtServer.stop`): readiness goes at once, new calls get
    UNAVAILABLE over both protocols, and every call already in flight completes."""
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path, shutdown_grace=10) as (server, address):
        gate = Gated(server, "opus-mt-en-ru", delay=0.2)
        with Client(address, timeout=20, retries=0) as client, ThreadPoolExecutor(8) as pool:
            over_grpc = [
                pool.submit(client.translate, [f"grpc {i}."], source="en", target="ru")
                for i in range(3)
            ]
            over_http = [
                pool.submit(post, server, "/v1/translate", translate_body(f"http {i}."))
                for i in range(3)
            ]
            support.wait_for(lambda: server.admission.inflight == 6, 5, what="six calls in flight")
            stopper = threading.Thread(target=server.stop, kwargs={"grace": 10})
            stopper.start()
            support.wait_for(
                lambda: requests.get(url(server, "/readyz"), timeout=5).status_code == 503,
                5,
                what="not ready",
            )
            refused = post(server, "/v1/translate", translate_body("new work."))
            assert refused.status_code == 503 and refused.json()["code"] == 14
            with pytest.raises(UnavailableError):
                client.translate(["new work."], source="en", target="ru", timeout=5)
            gate.open.set()
            assert [f.result(timeout=20)[0].text for f in over_grpc] == [
                f"grpc {i}." for i in range(3)
            ]
            assert [
                f.result(timeout=20).json()["translations"][0]["translatedText"] for f in over_http
            ] == [f"http {i}." for i in range(3)]
            stopper.join(15)
            assert not stopper.is_alive()
        with pytest.raises(requests.ConnectionError):
            requests.get(url(server, "/healthz"), timeout=2)
