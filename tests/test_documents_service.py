"""Documents through the real server: HTML, Markdown and plain text, with glossaries.

On the identity registry every document comes back byte for byte, through Translate and
ProcessArticle. On the tiny demo models (random weights, real tokenizers, real attention) the
invariants hold: the output parses, tags and their nesting are unchanged, every href/src,
opaque element and protected span is byte-identical, no <script> appears, kept terms are
present and applied/missed tell the truth.
"""

from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsmt.client import Client, GlossaryEntry
from newsmt.pipeline.documents import parse
from newsmt.server.app import NewsmtServer
from newsmt.v1 import common_pb2, translation_pb2, translation_pb2_grpc

from .documents_fakes import html_tags, markdown_marks
from .test_documents_roundtrip import HTML_CASES, MARKDOWN_CASES, PLAIN_CASES

KEPT = {"Reuters": "", "Labour": "", "minister": ""}
CASES = (
    [("html", c) for c in HTML_CASES]
    + [("markdown", c) for c in MARKDOWN_CASES]
    + [("plain", c) for c in PLAIN_CASES]
)


@pytest.mark.parametrize(("fmt", "source"), CASES)
def test_identity_round_trip_through_translate_and_process_article(
    identity_client: Client, fmt: str, source: str
) -> None:
    for glossary in (None, KEPT):
        [out] = identity_client.translate(
            [source],
            source="en",
            target="ru",
            format=fmt,  # type: ignore[arg-type]
            glossary=glossary,
        )
        assert out.text == source
        # Degraded only where the parser itself could not place a block (a Markdown table
        # cell with an escaped pipe is left untranslated, and says so).
        assert out.markup_degraded == parse(source, fmt, "en").degraded  # type: ignore[arg-type]
        assert not out.missed_terms
        result = identity_client.process_article(
            source,
            source,
            source="en",
            targets=["ru", "es"],
            format=fmt,  # type: ignore[arg-type]
            glossary=glossary,
        )
        assert result.ok
        for t in result.translations:
            assert (t.title, t.body) == (source, source)


def test_glossary_terms_are_reported_truthfully(identity_client: Client) -> None:
    text = "The minister met Reuters in Moscow. Nothing else."
    [out] = identity_client.translate(
        [text],
        source="en",
        target="ru",
        glossary=[
            GlossaryEntry("Reuters"),  # kept: present, applied
            GlossaryEntry("MINISTER", ignore_case=True),  # kept, matched ignoring case
            GlossaryEntry("Moscow", "Москва"),  # translated: repaired through the alignment
            GlossaryEntry("Paris", "Париж"),  # not in the input: neither applied nor missed
        ],
    )
    assert set(out.applied_terms) == {"Reuters", "MINISTER", "Moscow"}
    assert out.missed_terms == ()
    assert "Москва" in out.text and "Reuters" in out.text and "minister" in out.text
    for term, target in (("Reuters", "Reuters"), ("Moscow", "Москва")):
        assert term in out.applied_terms and target in out.text


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"format": 7}, "format"),
        ({"glossary": [common_pb2.GlossaryEntry(source="", target="x")]}, "glossary[0].source"),
        (
            {"glossary": [common_pb2.GlossaryEntry(source=f"t{i}") for i in range(1001)]},
            "glossary",
        ),
    ],
)
def test_bad_format_and_glossary_are_invalid_argument_naming_the_field(
    identity_server: tuple[NewsmtServer, str], request_fields: dict[str, object], field: str
) -> None:
    with grpc.insecure_channel(identity_server[1]) as channel:
        stub = translation_pb2_grpc.TranslationServiceStub(channel)
        request = translation_pb2.TranslateRequest(
            segments=[translation_pb2.Segment(id="a", text="SECRET text.")],
            target_language_code="ru",
            **request_fields,  # type: ignore[arg-type]
        )
        with pytest.raises(grpc.RpcError) as info:
            stub.Translate(request, timeout=10)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert field in info.value.details()  # type: ignore[attr-defined]
    assert "SECRET" not in info.value.details()  # type: ignore[attr-defined]


def test_client_rejects_an_unknown_format_before_sending(identity_client: Client) -> None:
    with pytest.raises(ValueError, match="format must be one of"):
        identity_client.translate(["x"], target="ru", format="docx")  # type: ignore[arg-type]


def test_summary_reads_html_without_its_markup(identity_client: Client) -> None:
    html = '<p>The <b>prime minister</b> resigned.</p><p>Polls <a href="/x">open</a> in May.</p>'
    summary = identity_client.summarize(html, source="en", target="en", format="html")
    assert "<" not in summary.text and "href" not in summary.text
    assert "prime minister" in summary.text and "Polls open" in summary.text


# -- the tiny demo models: real tokenizers, real attention, random weights ------------------


def check_html(source: str, output: str) -> None:
    before, after = html_tags(source), html_tags(output)
    assert after.tags == before.tags  # the same tags, none dropped or added
    assert after.links == before.links  # every href and src byte-identical
    assert after.scripts == before.scripts  # no <script> that was not a tag in the input
    for opaque in (
        "<pre>  keep   this </pre>",
        '<script>var s="<p>Hi</p>";</script>',
        '<p translate="no">Reuters</p>',
        "<code>git log</code>",
    ):
        if opaque in source:
            assert opaque in output


@pytest.mark.parametrize("source", HTML_CASES)
def test_html_invariants_on_the_demo_model(tiny_client: Client, source: str) -> None:
    [out] = tiny_client.translate([source], source="en", target="ru", format="html", glossary=KEPT)
    assert out.route.demo == any(u.needs_model for u in parse(source, "html", "en").units)
    check_html(source, out.text)
    for term in out.applied_terms:
        assert term in out.text
    assert not set(out.applied_terms) & set(out.missed_terms)
    for term in ("Reuters",):
        if term in source and f">{term}<" in source:
            assert term in out.text  # a kept term (or an opaque element) survives


@pytest.mark.parametrize("source", MARKDOWN_CASES)
def test_markdown_invariants_on_the_demo_model(tiny_client: Client, source: str) -> None:
    [out] = tiny_client.translate(
        [source], source="en", target="es", format="markdown", glossary=KEPT
    )
    assert markdown_marks(out.text) == markdown_marks(source)
    for term in out.applied_terms:
        assert term in out.text


def test_protected_spans_survive_the_demo_model(tiny_client: Client) -> None:
    text = "Write to desk@example.com or @newsdesk, see https://ex.com/a?b=1 and #Election2026."
    [out] = tiny_client.translate([text], source="en", target="ru")
    for span in ("desk@example.com", "@newsdesk", "https://ex.com/a?b=1", "#Election2026"):
        assert span in out.text


def test_pivot_route_carries_markup(tiny_client: Client) -> None:
    source = "<p>The <b>prime minister</b> resigned.</p>"
    [out] = tiny_client.translate([source], source="ru", target="es", format="html")
    assert out.route.models == ("opus-mt-ru-en", "opus-mt-en-es")
    check_html(source, out.text)


_TAGS = st.sampled_from(["b", "i", "em", "a", "span", "p", "div", "li", "sup", "code"])
_WORDS = st.sampled_from(["The", "minister", "said", "no.", "Polls", "open", "&amp;", "&nbsp;"])


@st.composite
def html_documents(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        if depth < 3 and draw(st.booleans()):
            tag = draw(_TAGS)
            attrs = draw(st.sampled_from(["", ' href="/x?a=1&amp;b=2"', " title='say \"hi\"'"]))
            inner = draw(html_documents(depth + 1))
            closed = draw(st.integers(0, 5)) > 0  # sometimes left unclosed
            parts.append(f"<{tag}{attrs}>{inner}" + (f"</{tag}>" if closed else ""))
        else:
            parts.append(" ".join(draw(st.lists(_WORDS, min_size=1, max_size=5))))
    return " ".join(parts)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=html_documents())
def test_random_html_round_trips_on_identity_and_keeps_tags_on_the_demo_model(
    identity_client: Client, tiny_client: Client, document: str
) -> None:
    [same] = identity_client.translate([document], source="en", target="ru", format="html")
    assert same.text == document
    [out] = tiny_client.translate([document], source="en", target="ru", format="html")
    before, after = html_tags(document), html_tags(out.text)
    assert after.tags == before.tags and after.links == before.links
    assert after.scripts == before.scripts
