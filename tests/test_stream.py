"""TranslateStream: units as they are ready, joined equal to Translate, cancellable."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsmt.cli.main import main
from newsmt.client import (
    AsyncClient,
    Client,
    NewsmtError,
    OverloadedError,
    SegmentDone,
    StreamDone,
    StreamEvent,
    TranslatedUnit,
    Translation,
)
from newsmt.core.context import RequestContext
from newsmt.core.errors import Internal
from newsmt.models.registry import Registry
from newsmt.pipeline.documents import Format, UnitOutput, parse, render
from newsmt.pipeline.documents.render import piece_spans, render_piece
from newsmt.pipeline.stream import SegmentFinished, StreamedUnit
from newsmt.pipeline.translate import Translator
from newsmt.server.app import NewsmtServer

from .conftest import running_server
from .support import wait_for

EN_RU = "opus-mt-en-ru"

DOCUMENTS: dict[Format, list[str]] = {
    "plain": [
        "The talks ended late. Both sides said progress was made.\n\nMore talks are planned "
        "for Friday. See https://example.com/talks for details.",
        "",
        "2024 — 17:45",
        "  Leading spaces stay.  Trailing ones too.  ",
    ],
    "html": [
        '<p>The <b>central bank</b> raised rates. <a href="/x" title="More news">Read</a> on.'
        '</p><img alt="A photo of the bank"><p>Markets <i>rose</i> after the news.</p>',
        "<p></p>",
        "",
        "<ul><li>First point here.</li><li>Second point, with <code>code()</code>.</li></ul>",
    ],
    "markdown": [
        "# Rates rise\n\nThe **central bank** raised rates. Markets rose.\n\n"
        "- A [link](https://example.com) here.\n- Another *point* there.\n",
        "",
        "`only code`",
    ],
}

ARTICLE = " ".join(f"Sentence number {i} tells the story of day {i}." for i in range(30))


def joined(events: list[StreamEvent], segments: int) -> list[str]:
    texts = [""] * segments
    for event in events:
        if isinstance(event, TranslatedUnit):
            texts[event.segment_index] += event.text
    return texts


def check_order(events: list[StreamEvent], segments: int) -> None:
    """Segments in request order, units in order within each, one SegmentDone per segment
    after its units, one StreamDone last with the totals."""
    assert isinstance(events[-1], StreamDone)
    assert not any(isinstance(e, StreamDone) for e in events[:-1])
    done = [e for e in events if isinstance(e, SegmentDone)]
    assert [d.segment_index for d in done] == list(range(segments))
    segment, expected_unit = 0, 0
    for event in events[:-1]:
        if isinstance(event, TranslatedUnit):
            assert event.segment_index == segment and event.unit_index == expected_unit
            expected_unit += 1
        else:
            assert isinstance(event, SegmentDone) and event.segment_index == segment
            assert event.translation.text == "" and event.translation.units == expected_unit
            segment, expected_unit = segment + 1, 0
    units = [e for e in events if isinstance(e, TranslatedUnit)]
    assert events[-1].units == len(units)
    assert events[-1].cached_units == sum(u.cached for u in units)


def same_but_text(done: Translation, unary: Translation) -> None:
    assert done.id == unary.id
    assert done.detected_language == unary.detected_language
    assert done.route == unary.route
    assert done.applied_terms == unary.applied_terms
    assert done.missed_terms == unary.missed_terms
    assert done.markup_degraded == unary.markup_degraded
    assert done.output_truncated == unary.output_truncated
    assert done.quality == unary.quality
    assert done.units == unary.units


@pytest.mark.parametrize("fmt", ["plain", "html", "markdown"])
def test_units_join_to_the_unary_text_on_identity(identity_client: Client, fmt: Format) -> None:
    texts = DOCUMENTS[fmt]
    events = list(identity_client.translate_stream(texts, target="ru", source="en", format=fmt))
    unary = identity_client.translate(texts, target="ru", source="en", format=fmt)
    check_order(events, len(texts))
    assert joined(events, len(texts)) == [t.text for t in unary]
    # Identity: the document comes back byte for byte, and the units tile the source.
    assert joined(events, len(texts)) == texts
    for event in events:
        if isinstance(event, TranslatedUnit):
            source = texts[event.segment_index]
            assert 0 <= event.source_start < event.source_end <= len(source)
    done = [e for e in events if isinstance(e, SegmentDone)]
    for d, u in zip(done, unary, strict=True):
        same_but_text(d.translation, u)


@pytest.mark.parametrize("fmt", ["plain", "html", "markdown"])
def test_units_join_to_the_unary_text_on_tiny_models(tiny_client: Client, fmt: Format) -> None:
    texts = DOCUMENTS[fmt][:2]
    events = list(tiny_client.translate_stream(texts, target="ru", source="en", format=fmt))
    unary = tiny_client.translate(texts, target="ru", source="en", format=fmt)
    check_order(events, len(texts))
    assert joined(events, len(texts)) == [t.text for t in unary]
    assert unary[0].route.demo


def test_detected_and_pivot_segments(identity_client: Client) -> None:
    texts = ["Привет, мир. Как дела?", "Hola a todos. Buenos días.", "12345", ""]
    events = list(identity_client.translate_stream(texts, target="es"))
    unary = identity_client.translate(texts, target="es")
    check_order(events, len(texts))
    assert joined(events, len(texts)) == [t.text for t in unary]
    done = [e.translation for e in events if isinstance(e, SegmentDone)]
    assert done[0].route.models == ("opus-mt-ru-en", "opus-mt-en-es")
    assert done[0].detected_language.language == "ru"


def test_the_pipeline_stream_on_tiny_models_without_a_cache(
    tiny_server: tuple[NewsmtServer, str],
) -> None:
    """Both paths through the models themselves (no cache to agree through)."""
    srv, _ = tiny_server
    translator = Translator(srv.pool, srv.detector, srv.translator.config)
    ctx = RequestContext(timeout=120)
    for fmt in ("plain", "html", "markdown"):
        texts = [*DOCUMENTS[fmt][:2], ARTICLE[:300]]
        unary = translator.translate(texts, "en", "ru", ctx, fmt=fmt)
        items = list(translator.translate_stream(texts, "en", "ru", ctx, fmt=fmt))
        pieces = [""] * len(texts)
        for item in items:
            if isinstance(item, StreamedUnit):
                pieces[item.segment] += item.text
        assert pieces == [u.text for u in unary]
        # Each text's result is unary's, less the text the stream has already sent.
        finished = [i.result for i in items if isinstance(i, SegmentFinished)]
        assert finished == [dataclasses.replace(u, text="") for u in unary]


PARTS = [*"ab cd.!?\n<>&*_[]()#-`é", "<b>", "</b>", "<p>", "Hi. ", "https://x.io "]
segment_text = st.lists(st.sampled_from(PARTS), max_size=30).map("".join)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(segment_text, max_size=5),
    fmt=st.sampled_from(["plain", "html", "markdown"]),
)
def test_any_segment_list_streams_as_it_translates(
    identity_server: tuple[NewsmtServer, str], texts: list[str], fmt: Format
) -> None:
    srv, _ = identity_server
    translator = Translator(srv.pool, srv.detector, srv.translator.config)
    ctx = RequestContext(timeout=30)
    unary = translator.translate(texts, "en", "ru", ctx, fmt=fmt)
    items = list(translator.translate_stream(texts, "en", "ru", ctx, fmt=fmt))
    pieces = [""] * len(texts)
    order: list[tuple[int, int]] = []
    finished: list[int] = []
    for item in items:
        if isinstance(item, StreamedUnit):
            assert item.segment not in finished
            pieces[item.segment] += item.text
            order.append((item.segment, item.index))
        else:
            finished.append(item.segment)
            assert item.result.units == sum(1 for s, _ in order if s == item.segment)
    assert finished == list(range(len(texts)))
    assert order == sorted(order)
    assert pieces == [u.text for u in unary]


class Held:
    """Wraps a served model's engine: the first `free` calls run, later ones wait for
    `release`, or with `fail`, raise after that many seconds (as a real call takes time).
    Counts every call that reached the engine."""

    def __init__(
        self, server: NewsmtServer, model: str, free: int = 1, fail: float | None = None
    ) -> None:
        engine = server.pool.info(model).engine
        assert engine is not None
        self.inner = engine.generate
        self.free = free
        self.fail = fail
        self.release = threading.Event()
        self.calls = 0
        self.waiting = threading.Event()
        self._lock = threading.Lock()
        engine.generate = self  # type: ignore[method-assign]

    def __call__(self, batch: Any, **kw: Any) -> Any:
        with self._lock:
            self.calls += 1
            held = self.calls > self.free
        if held:
            if self.fail is not None:
                time.sleep(self.fail)
                raise RuntimeError("engine failure (test)")
            self.waiting.set()
            self.release.wait(30)
        return self.inner(batch, **kw)


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[tuple[NewsmtServer, str]]:
    registry = Registry.load().with_engine("identity")
    with running_server(
        registry, model_dir=tmp_path, cache_bytes=0, max_inflight_requests=2
    ) as running:
        yield running


def test_cancelling_after_the_first_event_makes_no_further_engine_call(
    fresh_server: tuple[NewsmtServer, str],
) -> None:
    srv, address = fresh_server
    held = Held(srv, EN_RU)
    batcher = srv.pool.info(EN_RU).batcher
    assert batcher is not None
    with Client(address, timeout=30, retries=0) as client:
        stream = client.translate_stream([ARTICLE], target="ru", source="en")
        first = next(stream)
        assert isinstance(first, TranslatedUnit) and first.unit_index == 0
        assert held.waiting.wait(10), "the next submission never reached the engine"
        stream.close()  # cancels the call
        wait_for(
            lambda: all(ctx.cancelled for ctx in list(srv.gate.live)),
            what="the stream's request context cancelled",
        )
        calls_at_cancel = held.calls
        held.release.set()
        wait_for(lambda: srv.admission.inflight == 0, what="the stream ended on the server")
        wait_for(lambda: batcher.queue_depth() == 0, what="the queue emptied")
        # Nothing new reached the engine: the queued and unsubmitted groups were dropped.
        assert held.calls == calls_at_cancel
        assert batcher.stats.items_done < ARTICLE.count(".")
        # The server serves on.
        assert client.translate(["After the cancel."], target="ru", source="en")[0].text


class FirstCallWaits:
    """Wraps a served model's engine: its first call waits until `rows` more rows are queued
    behind it (a real model's call takes long enough for the rest of a stream to queue up);
    the rows of every call are recorded, one count per call."""

    def __init__(self, server: NewsmtServer, model: str, rows: int) -> None:
        served = server.pool.info(model)
        assert served.engine is not None and served.batcher is not None
        self.batcher = served.batcher
        self.inner = served.engine.generate
        self.rows = rows
        self.calls: list[int] = []
        served.engine.generate = self  # type: ignore[method-assign]

    def __call__(self, batch: Any, **kw: Any) -> Any:
        self.calls.append(len(batch))
        if len(self.calls) == 1:
            wait_for(lambda: self.batcher.queue_depth() >= self.rows, what="the rest queued")
        return self.inner(batch, **kw)


def test_a_stream_sends_its_first_unit_alone_then_batches_the_rest_like_unary(
    fresh_server: tuple[NewsmtServer, str],
) -> None:
    srv, address = fresh_server
    served = srv.pool.info(EN_RU)
    assert served.engine is not None
    unary_calls: list[int] = []
    inner = served.engine.generate

    def count(batch: Any, **kw: Any) -> Any:
        unary_calls.append(len(batch))
        return inner(batch, **kw)

    with Client(address, timeout=30, retries=0) as client:
        served.engine.generate = count  # type: ignore[method-assign]
        [unary] = client.translate([ARTICLE], target="ru", source="en")
        served.engine.generate = inner  # type: ignore[method-assign]
        first = FirstCallWaits(srv, EN_RU, rows=unary.units - 1)
        events = list(client.translate_stream([ARTICLE], target="ru", source="en"))
    assert joined(events, 1) == [unary.text]
    assert sum(first.calls) == sum(unary_calls) == unary.units
    # The first unit is not held behind the article; the rest is planned together (as one
    # unary request is), not in one engine call per small group.
    assert first.calls[0] == 1
    assert len(first.calls) <= len(unary_calls) + 1, (first.calls, unary_calls)


def test_the_rest_of_a_stream_queues_while_its_first_unit_decodes(
    fresh_server: tuple[NewsmtServer, str],
) -> None:
    srv, address = fresh_server
    batcher = srv.pool.info(EN_RU).batcher
    assert batcher is not None
    events: list[StreamEvent] = []
    with Client(address, timeout=30, retries=0) as client:
        [unary] = client.translate([ARTICLE], target="ru", source="en")
        held = Held(srv, EN_RU, free=0)
        reader = threading.Thread(
            target=lambda: events.extend(
                client.translate_stream([ARTICLE], target="ru", source="en")
            )
        )
        reader.start()
        try:
            assert held.waiting.wait(10), "the first unit never reached the engine"
            # The first unit is in its engine call, alone; what follows is already queued
            # behind it (where a second parallel call could take it), not waiting for it.
            wait_for(lambda: batcher.queue_depth() > 0, what="the rest of the stream queued")
            assert held.calls == 1, held.calls
        finally:
            held.release.set()
            reader.join(30)
    assert not reader.is_alive(), "the stream did not end"
    assert joined(events, 1) == [unary.text]


def test_an_error_mid_stream_ends_it_with_a_status(fresh_server: tuple[NewsmtServer, str]) -> None:
    srv, address = fresh_server
    Held(srv, EN_RU, free=1, fail=0.0)
    seen: list[StreamEvent] = []
    with Client(address, timeout=30, retries=0) as client, pytest.raises(NewsmtError) as failed:
        for event in client.translate_stream([ARTICLE], target="ru", source="en"):
            seen.append(event)
    assert failed.value.code == grpc.StatusCode.INTERNAL
    assert seen and all(isinstance(e, TranslatedUnit) for e in seen)
    # What was sent stays valid: the article's first sentences, as they were.
    assert ARTICLE.startswith("".join(e.text for e in seen if isinstance(e, TranslatedUnit)))


def test_a_stream_whose_first_unit_fails_spends_no_engine_time_on_the_rest(
    tmp_path: Path,
) -> None:
    """The pipeline withdraws the rest itself: here no RPC ends to cancel the request's
    context, which stays live (as for any in-process caller) after the stream raised."""
    registry = Registry.load().with_engine("identity")
    # One row per engine call: the rest of the article, left to run, is 29 more calls.
    with running_server(registry, model_dir=tmp_path, cache_bytes=0, max_batch_size=1) as (
        srv,
        _,
    ):
        held = Held(srv, EN_RU, free=0, fail=0.05)
        stages = ThreadPoolExecutor(9)
        translator = Translator(srv.pool, srv.detector, srv.translator.config, stages=stages)
        ctx = RequestContext(timeout=30)
        with pytest.raises(Internal):
            list(translator.translate_stream([ARTICLE], "en", "ru", ctx))
        assert not ctx.cancelled
        # Every submission the stream made has ended (each waits for its rows in the
        # scheduler): what reached the engine is all that ever will.
        stages.shutdown(wait=True)
        # The first unit's call failed and the rest was withdrawn: at most the other parallel
        # call took a unit before the withdrawal landed.
        assert held.calls <= 2, held.calls


def test_streams_pass_admission(fresh_server: tuple[NewsmtServer, str]) -> None:
    srv, address = fresh_server
    held = Held(srv, EN_RU, free=0)
    with Client(address, timeout=30, retries=0) as client:
        streams = [client.translate_stream([ARTICLE], target="ru", source="en") for _ in range(2)]
        started = [threading.Thread(target=next, args=(s, None)) for s in streams]
        for thread in started:
            thread.start()
        wait_for(lambda: srv.admission.inflight == 2, what="two streams admitted")
        with pytest.raises(OverloadedError):
            next(client.translate_stream(["One more."], target="ru", source="en"))
        held.release.set()
        for thread in started:
            thread.join(10)
            assert not thread.is_alive(), "a stream's first event never came"
        for stream in streams:
            stream.close()


def test_the_async_client_streams_the_same_events(
    identity_server: tuple[NewsmtServer, str],
) -> None:
    texts = DOCUMENTS["html"]

    async def collect() -> list[StreamEvent]:
        async with AsyncClient(identity_server[1], timeout=30) as client:
            return [
                e
                async for e in client.translate_stream(
                    texts, target="ru", source="en", format="html"
                )
            ]

    events = asyncio.run(collect())
    check_order(events, len(texts))
    assert joined(events, len(texts)) == texts


@pytest.mark.parametrize("fmt", ["plain", "html", "markdown"])
def test_rendered_pieces_join_to_the_rendered_document(fmt: Format) -> None:
    for text in DOCUMENTS[fmt]:
        doc = parse(text, fmt, "en")
        # Every unit translated (upper-cased, no alignment: the fallback places the markup).
        outputs: list[UnitOutput | None] = [(unit.text.upper(), None) for unit in doc.units]
        spans = piece_spans(doc)
        pieces = [render_piece(doc, outputs, span) for span in spans]
        assert "".join(p.text for p in pieces) == render(doc, outputs).text
        # The spans tile the source.
        ends = [s.source_end for s in spans]
        assert [s.source_start for s in spans] == [0, *ends[:-1]][: len(spans)]
        assert not spans or spans[-1].source_end == len(text)
        # A piece reads only its own units: with the others left out it renders the same.
        for piece in pieces:
            only = [o if i in piece.span.needs else None for i, o in enumerate(outputs)]
            assert render_piece(doc, only, piece.span).text == piece.text


def test_the_cli_prints_units_as_they_come(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "page.html"
    page.write_text(DOCUMENTS["html"][0], encoding="utf-8")
    args = ["translate", "--address", identity_server[1], "--to", "ru", "--from", "en"]
    assert main([*args, "--stream", str(page)]) == 0
    assert capsys.readouterr().out == DOCUMENTS["html"][0]  # exactly: nothing added
    assert main([*args, "--stream", "--format", "jsonl", str(page)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    units, final = lines[:-1], lines[-1]
    assert [u["unit"] for u in units] == list(range(len(units))) and len(units) >= 3
    assert "".join(u["text"] for u in units) == final["text"] == DOCUMENTS["html"][0]
    assert final["units"] == len(units)
