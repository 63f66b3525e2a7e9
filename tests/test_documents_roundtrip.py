"""Documents through a simulated identity engine come back byte for byte, and through
scrambling engines keep every tag, link, opaque element and protected span."""

from __future__ import annotations

import itertools

import pytest

from newsmt.pipeline.documents import Entry, Glossary, parse, render
from newsmt.pipeline.segment import segment

from .documents_fakes import (
    crossing,
    html_tags,
    identity,
    identity_round_trip,
    markdown_marks,
    scrambled,
    scrambled_unaligned,
    term_present,
    translate,
    upper,
)

# The ten cases of ../shared/research/documents.md section 1, then more.
HTML_CASES = [
    '<p>The <b>prime <i>minister</i></b> resigned. <a href="/x?a=1&amp;b=2">Polls</a> open in May.</p>',
    "<p>He said <em>no. Then he left</em> the room.</p>",
    "<p>AT&amp;T fell 5&nbsp;% &mdash; &lt;script&gt;alert(1)&lt;/script&gt; is text, &bogus; too.</p>",
    "<p>Breaking:<br>the bridge<br/>has collapsed.</p>",
    '<p><img src="a.png" alt="A man > a boy" title=\'He said "no"\'> <a href="https://ex.com/?q=a>b" title="Read more">Read</a></p>',
    '<p>Run <code>git log</code> now.</p><pre>  keep   this </pre><script>var s="<p>Hi</p>";</script><p translate="no">Reuters</p>',
    "<p>\n\tIf a line contains no verb,\n\tthe translation\n\tmust be wrong.\n</p>",
    "<p>Try FOOBAR<sup>®</sup> now! Tap <b>Set Up</b> (1).</p><table><tr><td>Price</td><td>Seats</td></tr></table>",
    "<p>Unclosed <b>bold. Next sentence.</p></div>",
    # nested inline tags across sentence boundaries
    "<div><p>Markets <b>fell <i>sharply. Oil rose</i> and gold</b> held. Bonds were flat.</p></div>",
    # <br> inside a sentence, entities, attributes with both quotes and '>'
    "<p>The mayor&#39;s office said<br>the road will reopen&hellip; on Monday.</p>",
    "<p><a href='/a?b=\"c\">' title=\"x > y &amp; 'z'\" data-x=a>Link</a> text here.</p>",
    # opaque elements and translate="no" / notranslate
    '<p>Press <kbd>Ctrl</kbd>+<kbd>C</kbd> to copy, then <span class="notranslate">Le Monde</span> said so.</p>'
    "<style>p > b { color: red }</style><noscript><p>Enable JS</p></noscript>"
    "<svg><text>Chart</text></svg><math><mi>x</mi></math><textarea>Type <b>here</b></textarea>",
    '<div translate="no"><p>Do not translate. At all.</p></div><p>Translate this one.</p>',
    # comments, doctype, head
    '<!DOCTYPE html><html><head><title>Daily news</title><meta charset="utf-8"></head>'
    "<body><!-- top --><h1>Storm hits coast</h1><p>Winds <!-- inline --> reached 150 km/h.</p></body></html>",
    # malformed markup
    "<p>Stray </i>end tag and <b>bold <i>mis</b>nested</i> words.</p><p>Broken <a href=x>link",
    "<p>Dangling &amp &lt tags < and > signs, 3 < 5.</p></p></b><b><i>",
    "<ul><li>First item. Second sentence.<li>Unclosed item</ul><p></p><p>  </p>",
    # protected spans inside HTML
    '<p>Write to <a href="mailto:press@example.com">press@example.com</a> or see https://ex.com/a?b=1&amp;c=2. Thanks @newsdesk #Breaking</p>',
    '<p>Image <img src=x.png alt="Photo of a bridge"> inline, and <wbr>long<wbr>word.</p>',
    "",
    "   ",
    '<p>Only <b></b> empty <i> </i> marks <a name="x"></a>here.</p>',
]

MARKDOWN_CASES = [
    '## Election *results*\n\n3. **École du Bempt** said [no](https://ex.com/a_(b) "Title") to `rm -rf` and ![chart](c.png).\n\n| Party | Seats |\n|---|---|\n| Labour | 412 |\n\n```\nx = 1\n```\n',
    "# Title\n\nSome _emphasis_ and __strong__ text. Another *sentence* here.\n",
    "A paragraph that is\nwrapped over lines, with **bold that\nspans** two lines.\n\n> A quote, also\n> wrapped. Second sentence.\n",
    '- item one with [a link][ref]\n- item two with <https://auto.link/x>\n\n[ref]: https://ex.com/ref "Ref title"\n',
    "Setext heading\n==============\n\n    indented code\n\nText with &amp; entity and \\*escaped\\* stars.  \nHard break here.\n",
    "<div>\nraw html block\n</div>\n\nInline <b>html</b> and ~~struck~~ text.\n",
    "| a | b |\n|:--|--:|\n| cell *one* | `code` |\n| two \\| pipe | [x](y) |\n",
    "Visit https://ex.com/news?id=1. Or mail me@ex.com. @handle #tag\n",
    "",
    "\n\n",
]

PLAIN_CASES = [
    "First para.\n\nSecond is long. It has two sentences.\n\nThird.",
    "Windows line.\r\nNext line.\r\n\r\nNew paragraph.\r\n",
    "   leading and trailing whitespace.   \n\n",
    "Contact press@example.com or visit https://ex.com/news/2024/05/bridge?utm_source=rss#top.",
    "No terminal punctuation",
    "",
    " \n\t ",
]

KEPT = Glossary([Entry("Reuters"), Entry("Labour"), Entry("minister", ignore_case=True)])

ALL = (
    [("html", c) for c in HTML_CASES]
    + [("markdown", c) for c in MARKDOWN_CASES]
    + [("plain", c) for c in PLAIN_CASES]
)


@pytest.mark.parametrize(("fmt", "source"), ALL)
@pytest.mark.parametrize("terms", [None, KEPT], ids=["no-glossary", "kept-terms"])
def test_identity_round_trip_is_byte_identical(fmt: str, source: str, terms: Glossary) -> None:
    assert identity_round_trip(source, fmt, terms) == source


@pytest.mark.parametrize("source", [c for c in PLAIN_CASES if "://" not in c])
def test_plain_units_are_todays_sentences_and_render_joins_like_today(source: str) -> None:
    doc = parse(source, "plain", "en")
    pieces = segment(source, "en")
    assert [u.text for u in doc.units] == [p.text for p in pieces if p.translate]
    # Rendering joins exactly as the pipeline does today: translated sentences and the
    # whitespace between them, nothing escaped.
    outputs = [(f"<{u.text}> & more", None) for u in doc.units]
    rendered = render(doc, outputs)
    assert rendered.text == "".join(f"<{p.text}> & more" if p.translate else p.text for p in pieces)
    assert not rendered.markup_degraded


@pytest.mark.parametrize(("fmt", "source"), ALL)
def test_unit_offsets_are_in_order_and_cover_their_text(fmt: str, source: str) -> None:
    doc = parse(source, fmt, "en")  # type: ignore[arg-type]
    sentences = [u for u in doc.units if u.kind == "sentence"]
    assert [u.index for u in doc.units] == list(range(len(doc.units)))
    assert [u.source_start for u in doc.units] == sorted(u.source_start for u in doc.units)
    for a, b in itertools.pairwise(sentences):
        assert a.source_end <= b.source_start
    for unit in doc.units:
        assert 0 <= unit.source_start < unit.source_end <= len(source)
        assert unit.text and unit.text == unit.text.strip()
        if fmt == "plain":
            assert source[unit.source_start : unit.source_end] == unit.text
        for m in unit.marks:
            assert 0 <= m.start <= m.end <= len(unit.text)
            if m.open:
                assert source[m.open_at : m.open_at + len(m.open)] == m.open
            if m.close:
                assert source[m.close_at : m.close_at + len(m.close)] == m.close
        for v in unit.voids:
            assert 0 < v.at < len(unit.text)
            assert source[v.source_at : v.source_at + len(v.markup)] == v.markup


def test_pysbd_break_inside_a_url_is_joined_into_one_unit() -> None:
    text = "Visit https://ex.com/news?id=1&x=2 now. Then leave."
    assert [u.text for u in parse(text, "plain", "en").units] == [
        "Visit https://ex.com/news?id=1&x=2 now.",
        "Then leave.",
    ]


def test_units_carry_their_source_offsets() -> None:
    source = HTML_CASES[0]
    doc = parse(source, "html", "en")
    assert [u.text for u in doc.units] == ["The prime minister resigned.", "Polls open in May."]
    first, second = doc.units
    assert (
        source[first.source_start : first.source_end]
        == "The <b>prime <i>minister</i></b> resigned."
    )
    assert source[second.source_start : second.source_end] == "Polls</a> open in May."
    assert [(m.open, m.close, first.text[m.start : m.end]) for m in first.marks] == [
        ("<b>", "</b>", "prime minister"),
        ("<i>", "</i>", "minister"),
    ]
    assert first.marks[1].parent == 0
    # The <a> opens at the sentence's edge (skeleton); only its close is inside the unit.
    assert [(m.open, m.close, m.start, m.end) for m in second.marks] == [("", "</a>", 0, 5)]


def test_mark_across_a_sentence_boundary_is_split_in_two_pieces() -> None:
    doc = parse(HTML_CASES[1], "html", "en")
    (a,), (b,) = (u.marks for u in doc.units)
    assert (a.open, a.close, doc.units[0].text[a.start : a.end]) == ("<em>", "", "no.")
    assert (b.open, b.close, doc.units[1].text[b.start : b.end]) == ("", "</em>", "Then he left")


def test_entities_are_decoded_for_the_model_and_escaped_again() -> None:
    doc = parse(HTML_CASES[2], "html", "en")
    (unit,) = doc.units
    assert unit.text == "AT&T fell 5\u00a0% \u2014 <script>alert(1)</script> is text, &bogus; too."
    out = render(doc, [(unit.text.replace("fell", "dropped"), None)]).text
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "5\u00a0%" in out and "AT&amp;T" in out


def test_br_splits_sentences_and_stays_exactly_as_written() -> None:
    doc = parse(HTML_CASES[3], "html", "en")
    assert [u.text for u in doc.units] == ["Breaking:", "the bridge", "has collapsed."]
    out = translate(doc, scrambled)[0].text
    assert out.count("<br>") == 1 and out.count("<br/>") == 1 and "</br>" not in out


def test_attributes_are_units_of_their_own_and_keep_their_quotes() -> None:
    doc = parse(HTML_CASES[4], "html", "en")
    assert [(u.kind, u.attribute, u.text) for u in doc.units] == [
        ("attribute", "alt", "A man > a boy"),
        ("attribute", "title", 'He said "no"'),
        ("attribute", "title", "Read more"),
        ("sentence", None, "Read"),
    ]
    out = translate(doc, scrambled)[0].text
    assert out == (
        '<p><img src="a.png" alt="BOY A &gt; MAN A" title=\'" NO " SAID HE\'> '
        '<a href="https://ex.com/?q=a>b" title="MORE READ">READ</a></p>'
    )


def test_unquoted_attribute_gets_quotes_when_its_translation_needs_them() -> None:
    doc = parse("<img alt=Bridge src=b.png>", "html", "en")
    assert render(doc, [("Old bridge", None)]).text == '<img alt="Old bridge" src=b.png>'


def test_opaque_elements_are_protected_or_skeleton() -> None:
    doc = parse(HTML_CASES[5], "html", "en")
    (unit,) = doc.units
    assert unit.text == "Run git log now."
    assert [(p.kind, p.markup) for p in unit.protected] == [("code", "<code>git log</code>")]
    out = translate(doc, scrambled)[0].text
    assert out == (
        '<p>. NOW <code>git log</code> RUN</p><pre>  keep   this </pre><script>var s="<p>Hi</p>";'
        '</script><p translate="no">Reuters</p>'
    )


def test_html_whitespace_is_collapsed_for_the_model_only() -> None:
    (unit,) = parse(HTML_CASES[6], "html", "en").units
    assert unit.text == "If a line contains no verb, the translation must be wrong."


def test_tag_inside_a_word_stays_on_its_part_of_a_copied_word() -> None:
    doc = parse(HTML_CASES[7], "html", "en")
    out = translate(doc, upper)[0].text
    assert "FOOBAR<sup>®</sup> NOW!" in out
    assert "TAP <b>SET UP</b> (1)." in out


def test_unclosed_tag_ends_with_its_block_and_nothing_is_added() -> None:
    doc = parse(HTML_CASES[8], "html", "en")
    out = translate(doc, scrambled)[0].text
    assert out == "<p>. <b>BOLD UNCLOSED . SENTENCE NEXT</p></div>"


def test_markdown_keeps_delimiters_destinations_and_code() -> None:
    doc = parse(MARKDOWN_CASES[0], "markdown", "en")
    assert [u.text for u in doc.units] == [
        "Election results",
        "École du Bempt said no to rm -rf and chart.",
        "Party",
        "Seats",
        "Labour",
        "412",
    ]
    assert [u.needs_model for u in doc.units] == [True] * 5 + [False]
    marks = doc.units[1].marks
    assert [(m.open, m.close) for m in marks] == [
        ("", "**"),
        ("[", '](https://ex.com/a_(b) "Title")'),
        ("![", "](c.png)"),
    ]
    out = translate(doc, upper)[0].text
    assert out == MARKDOWN_CASES[0].replace("Election *results*", "ELECTION *RESULTS*").replace(
        "École du Bempt** said [no]", "ÉCOLE DU BEMPT** SAID [NO]"
    ).replace("to `rm -rf` and ![chart]", "TO `rm -rf` AND ![CHART]").replace(
        "Party | Seats", "PARTY | SEATS"
    ).replace("Labour", "LABOUR")


def test_markdown_emphasis_keeps_underscore_or_star() -> None:
    doc = parse(MARKDOWN_CASES[1], "markdown", "en")
    out = translate(doc, upper)[0].text
    assert out == "# TITLE\n\nSOME _EMPHASIS_ AND __STRONG__ TEXT. ANOTHER *SENTENCE* HERE.\n"


def test_markdown_output_text_cannot_make_new_markup() -> None:
    doc = parse("Plain words here.\n", "markdown", "en")
    out = render(doc, [("# Not *a* [heading](x) `here` | <b>", None)]).text
    assert markdown_marks(out) == markdown_marks("Plain words here.\n")


# -- invariants under scrambling engines -----------------------------------------------------

TRANSLATORS = {
    "scrambled": scrambled,
    "unaligned": scrambled_unaligned,
    "crossing": crossing,
}


@pytest.mark.parametrize("source", HTML_CASES)
@pytest.mark.parametrize("name", list(TRANSLATORS))
def test_html_invariants_under_scrambling(source: str, name: str) -> None:
    doc = parse(source, "html", "en")
    rendered, applied, missed, finals = translate(doc, TRANSLATORS[name], KEPT)
    before, after = html_tags(source), html_tags(rendered.text)
    assert after.tags == before.tags  # same tags (translated alt/title aside), none dropped
    assert after.links == before.links  # every href and src byte-identical
    assert after.scripts == before.scripts  # no <script> that was not a tag in the input
    if name != "crossing" and "mis</b>" not in source:
        assert after.paths == before.paths  # same nesting
    for unit, (_, missing) in zip(doc.units, finals, strict=True):
        for i, p in enumerate(unit.protected):
            if p.kind == "code":
                assert p.markup and p.markup in rendered.text  # opaque inline elements intact
            elif i not in missing and p.markup:
                assert p.markup in rendered.text  # protected spans byte-identical
        if name == "scrambled":
            assert not missing  # with a good alignment every span is repaired
    for term in applied:
        assert term_present(KEPT, term, rendered.text)
    assert not set(applied) & set(missed)
    for opaque in (
        "<pre>  keep   this </pre>",
        '<script>var s="<p>Hi</p>";</script>',
        '<p translate="no">Reuters</p>',
        "<style>p > b { color: red }</style>",
        "<textarea>Type <b>here</b></textarea>",
        '<span class="notranslate">Le Monde</span>',
    ):
        if opaque in source:
            assert opaque in rendered.text


@pytest.mark.parametrize("source", MARKDOWN_CASES)
@pytest.mark.parametrize("name", list(TRANSLATORS))
def test_markdown_invariants_under_scrambling(source: str, name: str) -> None:
    doc = parse(source, "markdown", "en")
    rendered, applied, _, _ = translate(doc, TRANSLATORS[name], KEPT)
    assert markdown_marks(rendered.text) == markdown_marks(source)
    for term in applied:
        assert term_present(KEPT, term, rendered.text)


def test_markup_degraded_is_set_only_by_fallback() -> None:
    doc = parse(HTML_CASES[0], "html", "en")
    assert not translate(doc, scrambled)[0].markup_degraded
    fallback = translate(doc, scrambled_unaligned)[0]
    assert fallback.markup_degraded and fallback.degraded_units == (0, 1)
    # A unit with no markup needs no alignment.
    plain = parse("<p>No markup at all. None.</p>", "html", "en")
    assert not translate(plain, scrambled_unaligned)[0].markup_degraded


def test_kept_terms_are_repaired_and_reported() -> None:
    doc = parse("<p>The <b>Labour</b> minister spoke to Reuters today.</p>", "html", "en")
    rendered, applied, missed, _ = translate(doc, scrambled, KEPT)
    assert applied == ("minister", "Reuters", "Labour") or set(applied) == {
        "minister",
        "Reuters",
        "Labour",
    }
    assert missed == ()
    assert "Reuters" in rendered.text and "<b>Labour</b>" in rendered.text
    # Without an alignment they cannot be repaired, and are reported missed.
    rendered, applied, missed, _ = translate(doc, scrambled_unaligned, KEPT)
    assert applied == () and set(missed) == {"minister", "Reuters", "Labour"}
    assert "Reuters" not in rendered.text


def test_output_count_must_match() -> None:
    doc = parse("One. Two.", "plain", "en")
    with pytest.raises(ValueError, match="outputs: 1 given for 2 units"):
        render(doc, [None])


def test_identity_engine_output_with_identity_helper() -> None:
    doc = parse(HTML_CASES[9], "html", "en")
    assert translate(doc, identity)[0].text == HTML_CASES[9]
