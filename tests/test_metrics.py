"""The Prometheus endpoint after real traffic: the numbers move as they should."""

from __future__ import annotations

import pytest

from newsmt.client import Client, InvalidArgumentError
from newsmt.server.app import NewsmtServer

from . import support


def scrape(server: NewsmtServer) -> str:
    return support.scrape(server.metrics_port)


def value(text: str, name: str, **labels: str) -> float:
    """A series that must be there (KeyError if the metric is gone)."""
    return support.metric(text, name, **labels)


def before(text: str, name: str, **labels: str) -> float:
    """A counter read before the traffic: not exported until its first increment."""
    return support.metric(text, name, missing=0.0, **labels)


def test_metrics_follow_traffic(tiny_server: tuple[NewsmtServer, str]) -> None:
    server, address = tiny_server
    translate = "/newsmt.v1.TranslationService/Translate"
    before_text = scrape(server)
    cache_before = server.cache.stats()
    with Client(address, timeout=60) as client:
        for i in range(3):
            client.translate([f"The talks went on, round {i}. Day {i}."], source="en", target="ru")
        with pytest.raises(InvalidArgumentError):
            client.translate(["x"], source="en", target="xx")
    after = scrape(server)
    assert (
        value(after, "newsmt_requests_total", method=translate, code="OK")
        - before(before_text, "newsmt_requests_total", method=translate, code="OK")
        == 3
    )
    assert value(after, "newsmt_requests_total", method=translate, code="INVALID_ARGUMENT") >= 1
    assert value(after, "newsmt_request_duration_seconds_count", method=translate) >= 4
    model = "opus-mt-en-ru"
    calls = value(after, "newsmt_batch_size_count", model=model) - before(
        before_text, "newsmt_batch_size_count", model=model
    )
    assert 1 <= calls <= 3
    rows = value(after, "newsmt_batch_size_sum", model=model) - before(
        before_text, "newsmt_batch_size_sum", model=model
    )
    assert rows == 6  # two sentences per request, three requests
    # Every sentence looked up once: a hit, a miss, or joined while in flight.
    cache = server.cache.stats()
    assert cache.lookups - cache_before.lookups == 6
    assert cache.misses - cache_before.misses == rows  # each engine row was a miss
    for name in ("hits", "misses", "coalesced"):
        assert value(after, f"newsmt_cache_{name}_total") == getattr(cache, name)
    assert (
        value(after, "newsmt_queue_wait_seconds_count", model=model)
        - before(before_text, "newsmt_queue_wait_seconds_count", model=model)
        == 6
    )
    assert value(after, "newsmt_generated_tokens_total", model=model) > before(
        before_text, "newsmt_generated_tokens_total", model=model
    )
    assert value(after, "newsmt_batch_tokens_count", model=model) >= calls
    assert value(after, "newsmt_model_loaded", model=model) == 1.0
    assert value(after, "newsmt_model_demo", model=model) == 1.0
    assert value(after, "newsmt_queue_depth", model=model) == 0.0
    assert (
        value(after, "newsmt_scheduler_items_total", model=model, outcome="done")
        - before(before_text, "newsmt_scheduler_items_total", model=model, outcome="done")
        == 6
    )
    assert value(after, "newsmt_scheduler_items_total", model=model, outcome="rejected_late") == 0
    assert value(after, "newsmt_inflight_requests") == 0.0
    assert value(after, "process_resident_memory_bytes") > 50e6
    assert "talks" not in after  # no request text in metrics


def test_opentelemetry_tracing_is_one_flag_away(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from newsmt.models.registry import Registry

    from .conftest import running_server

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    registry = Registry.load().with_engine("identity")
    with (
        running_server(registry, model_dir=tmp_path, otel_tracing=True) as (_, address),
        Client(address) as client,
    ):
        client.translate(["Traced sentence."], source="en", target="ru")
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert "/newsmt.v1.TranslationService/Translate" in names
    assert all("Traced sentence" not in str(dict(s.attributes or {})) for s in spans)


def test_admission_refusals_are_a_counter(identity_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = identity_server
    text = scrape(server)
    assert "# TYPE newsmt_admission_rejected_total counter" in text or (
        "# TYPE newsmt_admission_rejected counter" in text
    )
    assert value(text, "newsmt_admission_rejected_total") == server.admission.rejected
