"""Real input at the edges, on a real server: requests at every documented limit are served,
a request larger than the queue goes in waves, hard-wrapped text reaches the model as whole
sentences, and what a model must not hand over never reaches a caller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsmt.client import Client, GlossaryEntry
from newsmt.models.registry import Registry
from newsmt.pipeline.documents import MAX_GLOSSARY_ENTRIES, parse, render
from newsmt.pipeline.documents.align import diagonal
from newsmt.pipeline.documents.limits import MAX_TERM_CHARS
from newsmt.server.app import NewsmtServer

from .conftest import running_server

EN_RU = "opus-mt-en-ru"

#: Wire copy as agencies send it: a headline, a dateline, lines wrapped at 66 columns.
WIRE = (
    "Floods hit the north\n"
    "\n"
    "MOSCOW, Dec 7 (Reuters) - Heavy rain that fell across the northern\n"
    "regions on Sunday forced thousands of people to leave their homes,\n"
    "officials said. Rivers burst their banks overnight and the army was\n"
    "called in to help.\n"
    "\n"
    "- Roads closed: 14\n"
    "- Schools shut: 230\n"
)


@pytest.fixture(scope="module")
def defaults_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NewsmtServer, str]]:
    """The identity engine with every limit at its default."""
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path_factory.mktemp("limits")) as running:
        yield running


def test_a_request_at_each_documented_limit_is_served(
    defaults_server: tuple[NewsmtServer, str],
) -> None:
    srv, address = defaults_server
    settings = srv.settings
    with Client(address, timeout=300) as client:
        # The most segments.
        many = [f"Segment {i} is here." for i in range(settings.max_segments)]
        assert [t.text for t in client.translate(many, source="en", target="ru")] == many
        # One segment with every character a request may send to the models.
        chars = settings.max_request_chars
        page = ("Word " * (chars // 5))[: chars - 1] + "."
        [out] = client.translate([page], source="en", target="ru")
        assert out.text == page
        # The most bytes a document may have: markup around little text.
        size = settings.max_document_bytes
        shell = "<p>The minister resigned.</p><div data-x='{}'></div>"
        filler = size - len(shell.format("").encode())
        html = shell.format("x" * filler)
        assert len(html.encode()) == size
        [out] = client.translate([html], source="en", target="ru", format="html")
        assert out.text == html
        # The largest glossary, every term at its longest.
        glossary = [
            GlossaryEntry(f"{i:04d}" + "t" * (MAX_TERM_CHARS - 4), "u" * MAX_TERM_CHARS)
            for i in range(MAX_GLOSSARY_ENTRIES)
        ]
        [out] = client.translate(
            ["No term occurs here."], source="en", target="ru", glossary=glossary
        )
        assert out.text == "No term occurs here."


def test_a_request_with_more_units_than_the_queue_holds_is_served_in_waves(
    tmp_path: Path,
) -> None:
    """3,250 short lines: a unit each, more than the queue holds. It was refused forever
    (RESOURCE_EXHAUSTED on an idle server, retry after retry)."""
    registry = Registry.load().with_engine("identity")
    lines = "\n".join(f"Line {i} here." for i in range(3250)) + "\n"
    assert len(lines) < 100_000
    with (
        running_server(registry, model_dir=tmp_path, max_queue=512) as (srv, address),
        Client(address, timeout=120, retries=0) as client,
    ):
        batcher = srv.pool.info(EN_RU).batcher
        assert batcher is not None
        [out] = client.translate([lines], source="en", target="ru")
        assert out.text == lines and out.units == 3250
        assert batcher.stats.rejected_full == 0
        streamed = list(client.translate_stream([lines], source="en", target="ru"))
        assert "".join(getattr(e, "text", "") for e in streamed) == lines


def test_hard_wrapped_lines_reach_the_model_as_sentences() -> None:
    doc = parse(WIRE, "plain", "en")
    sentences = [u.text for u in doc.units if u.needs_model]
    assert sentences == [
        "Floods hit the north",
        "MOSCOW, Dec 7 (Reuters) - Heavy rain that fell across the northern regions on Sunday "
        "forced thousands of people to leave their homes, officials said.",
        "Rivers burst their banks overnight and the army was called in to help.",
        "- Roads closed: 14",
        "- Schools shut: 230",
    ]
    # Unchanged outputs: byte for byte.
    assert render(doc, [(u.text, None) for u in doc.units]).text == WIRE
    # Translated (upper-cased, aligned word for word): the lines come back where they were.
    upper = [(u.text.upper(), diagonal(u.text)) for u in doc.units]
    assert render(doc, upper).text == WIRE.upper()
    # With no alignment, every break still comes back, at a word boundary.
    shuffled = render(doc, [(u.text.upper(), None) for u in doc.units]).text
    assert shuffled.count("\n") == WIRE.count("\n") and " \n" not in shuffled


def test_wrapped_text_on_the_server_is_whole_and_counted_by_sentence(
    identity_client: Client,
) -> None:
    [out] = identity_client.translate([WIRE], source="en", target="ru")
    assert out.text == WIRE and out.units == 5
    streamed = list(identity_client.translate_stream([WIRE], source="en", target="ru"))
    assert "".join(getattr(e, "text", "") for e in streamed) == WIRE


class Dirty:
    """Wraps a served model's decoding: every output gets a U+FFFD and a C0 control
    character, as random demo weights emit them."""

    def __init__(self, server: NewsmtServer, model: str) -> None:
        engine = server.pool.info(model).engine
        assert engine is not None
        self.engine = engine
        self.inner = engine.decode
        engine.decode = self  # type: ignore[method-assign]

    def __call__(self, tokens: Any) -> str:
        text: str = self.inner(tokens)
        return f"\ufffd{text}\x01" if text else text

    def restore(self) -> None:
        self.engine.decode = self.inner  # type: ignore[method-assign]


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[NewsmtServer, str]]:
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path, cache_bytes=0) as running:
        yield running


def test_control_characters_and_replacement_characters_are_stripped_and_flagged(
    fresh: tuple[NewsmtServer, str],
) -> None:
    srv, address = fresh
    dirty = Dirty(srv, EN_RU)
    try:
        with Client(address, timeout=30) as client:
            [out] = client.translate(["The minister resigned."], source="en", target="ru")
            assert out.text == "The minister resigned."
            assert out.quality is not None and "INVALID_CHARACTERS" in out.quality.flags
            # A control character the source carries is content: it stays, unflagged.
            [kept] = client.translate(["Bell\x02 rang."], source="en", target="ru")
            assert kept.text == "Bell\x02 rang."
            assert kept.quality is not None and "INVALID_CHARACTERS" in kept.quality.flags
    finally:
        dirty.restore()


class Forgetful:
    """Wraps a served model's decoding: every e-mail address is dropped from the output."""

    def __init__(self, server: NewsmtServer, model: str) -> None:
        engine = server.pool.info(model).engine
        assert engine is not None
        self.inner = engine.decode
        engine.decode = self  # type: ignore[method-assign]

    def __call__(self, tokens: Any) -> str:
        return " ".join(w for w in self.inner(tokens).split(" ") if "@" not in w)


def test_a_span_put_back_by_position_in_plain_text_is_not_markup_degraded(
    fresh: tuple[NewsmtServer, str],
) -> None:
    srv, address = fresh
    Forgetful(srv, EN_RU)
    with Client(address, timeout=30) as client:
        [out] = client.translate(
            ["Write to desk@example.com for details."], source="en", target="ru"
        )
    assert "desk@example.com" in out.text
    assert not out.markup_degraded
