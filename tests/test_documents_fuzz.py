"""Random HTML and Markdown: identity round trips are exact, and scrambling engines never crash
and never drop, add or re-nest a tag."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from newsmt.pipeline.documents import Entry, Glossary, parse

from .documents_fakes import (
    crossing,
    html_tags,
    identity_round_trip,
    markdown_marks,
    scrambled,
    scrambled_unaligned,
    term_present,
    translate,
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TERMS = Glossary([Entry("Reuters"), Entry("bridge", "мост"), Entry("Apple", ignore_case=True)])
#: An identity engine "translates" nothing, so a translated term would be written in: a round
#: trip is exact with kept terms only.
KEPT = Glossary([Entry("Reuters"), Entry("Apple", ignore_case=True)])

WORDS = st.sampled_from(
    [
        "The",
        "bridge",
        "collapsed",
        "Reuters",
        "said",
        "apple",
        "Apple",
        "minister",
        "resigned",
        "it",
        "on",
        "Monday.",
        "rain?",
        "Yes!",
        "3.5%",
        "@desk",
        "#News",
        "https://ex.com/a?b=1",
        "me@ex.com",
        "'quoted'",
        '"double"',
        "—",
        "(aside)",
        "x.com,",
        "über",
        "Привет",
        "мир.",
        "¿Qué?",
        "e.g.",
        "No.",
    ]
)
ENTITIES = st.sampled_from(
    [
        "&amp;",
        "&nbsp;",
        "&lt;",
        "&gt;",
        "&#39;",
        "&#x27;",
        "&mdash;",
        "&bogus;",
        "&amp",
        "&",
        " < ",
        "&notit;",
    ]
)
SPACE = st.sampled_from([" ", " ", " ", "\n", "\t", "  ", "\r\n"])


@st.composite
def html_text(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        parts.append(draw(st.one_of(WORDS, WORDS, WORDS, ENTITIES)))
        parts.append(draw(SPACE))
    return "".join(parts)


ATTRS = st.sampled_from(
    [
        "",
        ' href="/x?a=1&amp;b=2"',
        " href='https://ex.com/?q=a>b' title=\"Read more\"",
        " title='He said \"no\"'",
        " class=notranslate",
        ' translate="no"',
        " data-x=a>b",
        ' aria-label="Close the dialog"',
    ]
)
INLINE = st.sampled_from(["b", "i", "em", "strong", "a", "span", "sup", "u", "mark", "q", "small"])
BLOCK = st.sampled_from(["p", "div", "li", "td", "h2", "blockquote"])
LEAVES = st.one_of(
    html_text(),
    html_text(),
    st.sampled_from(
        [
            "<br>",
            "<br/>",
            "</br>",
            '<img src="a.png" alt="A man > a boy">',
            "<img src=b.png alt=Bridge>",
            "<wbr>",
            "<code>git log</code>",
            "<kbd>Ctrl</kbd>",
            '<script>var s="<p>Hi</p>";</script>',
            "<style>p > b {}</style>",
            "<pre>  keep   this </pre>",
            '<span translate="no">Le Monde</span>',
            "<!-- note -->",
            "</i>",
            "</p>",
            "<b>",
            "<input placeholder='Search the site'>",
            "<",
        ]
    ),
)


def _element(tag_and_attrs: tuple[str, str], children: list[str], close: int) -> str:
    tag, attrs = tag_and_attrs
    inner = "".join(children)
    # close: 0 = proper end tag, 1 = left unclosed, 2 = an extra stray end tag after it
    end = {0: f"</{tag}>", 1: "", 2: f"</{tag}></{tag}>"}[close]
    return f"<{tag}{attrs}>{inner}{end}"


HTML = st.recursive(
    LEAVES,
    lambda children: st.builds(
        _element,
        st.tuples(st.one_of(INLINE, INLINE, BLOCK), ATTRS),
        st.lists(children, min_size=1, max_size=4),
        st.sampled_from([0, 0, 0, 0, 1, 2]),
    ),
    max_leaves=14,
).map(lambda s: s)
DOCUMENTS = st.lists(HTML, min_size=1, max_size=4).map("".join)


@FUZZ
@given(DOCUMENTS, st.booleans())
def test_random_html_round_trips_exactly(source: str, with_terms: bool) -> None:
    assert identity_round_trip(source, "html", KEPT if with_terms else None) == source


@FUZZ
@given(DOCUMENTS)
def test_random_html_keeps_every_tag_under_scrambling(source: str) -> None:
    before = html_tags(source)
    doc = parse(source, "html", "en")
    for engine in (scrambled, scrambled_unaligned, crossing):
        rendered, applied, _, _ = translate(doc, engine, TERMS)
        after = html_tags(rendered.text)
        assert after.tags == before.tags
        assert after.links == before.links
        assert after.scripts == before.scripts
        if engine is scrambled_unaligned:
            # The fallback keeps every tag in source order: nesting is the source's exactly.
            assert after.paths == before.paths
        for term in applied:
            assert term_present(TERMS, term, rendered.text)


# -- Markdown -----------------------------------------------------------------------------------

MD_WORDS = st.sampled_from(
    [
        "The",
        "bridge",
        "collapsed",
        "Reuters",
        "said",
        "apple",
        "minister",
        "resigned",
        "on",
        "Monday.",
        "rain?",
        "Yes!",
        "3.5%",
        "@desk",
        "#News",
        "https://ex.com/a(b)",
        "me@ex.com",
        "über",
        "Привет",
        "мир.",
        "(aside)",
        "e.g.",
        "No.",
    ]
)
MD_INLINE = st.sampled_from(
    [
        "*{}*",
        "_{}_",
        "**{}**",
        "__{}__",
        "~~{}~~",
        '[{}](https://ex.com/a_(b) "Title")',
        "[{}](</x y>)",
        "[{}][ref]",
        "![{}](c.png)",
        "`{}`",
        "<b>{}</b>",
        "{} &amp; {}",
        "\\*{}\\*",
        "<https://auto.link/{}>",
        "{}  \n{}",
    ]
)


@st.composite
def md_inline(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        words = " ".join(draw(st.lists(MD_WORDS, min_size=1, max_size=3)))
        template = draw(st.one_of(st.just("{}"), st.just("{}"), MD_INLINE))
        parts.append(template.replace("{}", words))
    return draw(st.sampled_from([" ", "\n"])).join(parts)


@st.composite
def md_block(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(["p", "p", "h", "ul", "ol", "quote", "table", "fence", "code", "html"])
    )
    text = draw(md_inline())
    one_line = text.replace("\n", " ")
    if kind == "h":
        return "#" * draw(st.integers(1, 3)) + " " + one_line
    if kind == "ul":
        return "\n".join(f"- {line}" for line in text.split("\n"))
    if kind == "ol":
        return "\n".join(f"{i + 1}. {line}" for i, line in enumerate(text.split("\n")))
    if kind == "quote":
        return "\n".join(f"> {line}" for line in text.split("\n"))
    if kind == "table":
        cells = one_line.replace("|", " ").split(" ")[:3] or ["x"]
        return "| a | b |\n|---|---|\n| " + " ".join(cells) + " | `c` |"
    if kind == "fence":
        return "```\n" + text + "\n```"
    if kind == "code":
        return "    " + one_line
    if kind == "html":
        return "<div>\n" + one_line + "\n</div>"
    return text


MARKDOWN = st.lists(md_block(), min_size=1, max_size=4).map(
    lambda blocks: "\n\n".join(blocks) + "\n\n[ref]: https://ex.com/ref\n"
)


def _without_emphasis(marks: Counter[tuple[str, ...]]) -> Counter[tuple[str, ...]]:
    return Counter(
        {k: v for k, v in marks.items() if not k[0].startswith(("em_", "strong_", "s_"))}
    )


@FUZZ
@given(MARKDOWN, st.booleans())
def test_random_markdown_round_trips_exactly(source: str, with_terms: bool) -> None:
    assert identity_round_trip(source, "markdown", KEPT if with_terms else None) == source


@FUZZ
@given(MARKDOWN)
# Found by this test: the image's "](c.png)" lies after the unit, and the "</b>" placed at the
# unit's end went inside the image's label.
@example("The\n\n<b>The</b> ![The](c.png)\n\n[ref]: https://ex.com/ref\n")
# Found by this test with emphasis compared under the fallback too: a code span moved out of
# the output at its very end left its space behind, inside emphasis closed after the unit
# ("*THE *").
@example("The\n\n`The` *The*\n\n[ref]: https://ex.com/ref\n")
def test_random_markdown_keeps_its_markup_under_scrambling(source: str) -> None:
    before = markdown_marks(source)
    doc = parse(source, "markdown", "en")
    for engine in (scrambled, scrambled_unaligned, crossing):
        rendered, applied, _, finals = translate(doc, engine, TERMS)
        # Emphasis needs a word to sit on and a non-word next to it. It keeps both wherever
        # its markup was placed, by the alignment or by the fallback; only a unit shrunk to
        # fewer words than it has marks (a repair through a degenerate alignment) may leave a
        # delimiter pair with no word between them, and two sentences with no space between
        # them may glue a closing "_" to the next word: Markdown then reads them differently.
        # The delimiters are still all there; links, images, code and blocks are always intact.
        shrunk = any(
            len(final.split()) < len(unit.text.split())
            for unit, (final, _) in zip(doc.units, finals, strict=True)
        )
        glued = any(a.source_end == b.source_start for a, b in itertools.pairwise(doc.units))
        expected, after = before, markdown_marks(rendered.text)
        if shrunk or glued:
            expected, after = _without_emphasis(expected), _without_emphasis(after)
        assert after == expected
        for term in applied:
            assert term_present(TERMS, term, rendered.text)
