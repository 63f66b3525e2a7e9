"""Protected spans, glossaries and request checks for documents."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsmt.core.errors import Internal, InvalidArgument
from newsmt.pipeline import documents
from newsmt.pipeline.documents import (
    MAX_GLOSSARY_ENTRIES,
    Entry,
    Glossary,
    TokenLink,
    check_format,
    check_glossary,
    parse,
    protect,
)
from newsmt.pipeline.documents import glossary as glossary_module


def spans(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in protect.find_spans(text)]


# -- detection ---------------------------------------------------------------------------------


def test_url_and_email_keep_sentence_punctuation_outside() -> None:
    text = (
        "Contact press@example.com or visit https://ex.com/news/2024/05/bridge?utm_source=rss#top."
    )
    assert spans(text) == [
        ("email", "press@example.com"),
        ("url", "https://ex.com/news/2024/05/bridge?utm_source=rss#top"),
    ]


def test_url_brackets_are_kept_only_when_balanced() -> None:
    assert spans("See https://en.wikipedia.org/wiki/Foo_(bar).") == [
        ("url", "https://en.wikipedia.org/wiki/Foo_(bar)")
    ]
    assert spans("(see www.ex.com/a)") == [("url", "www.ex.com/a")]


def test_handles_hashtags_and_domains() -> None:
    assert spans("@p1user wrote #Brexit2024 on x.com.") == [
        ("handle", "@p1user"),
        ("hashtag", "#Brexit2024"),
        ("domain", "x.com"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Apple shares rose 3.5% to $189.98 on 12/05/2024, the 2nd rise in 10 days.",
        "Call 555-0100, not 555-0100 or 555-0199.",
        "Ranked #1 in the U.S. and e.g. here.",
        "Use {0}, __PH0__ and <x1/> literally.",
    ],
)
def test_numbers_and_lookalikes_are_not_protected(text: str) -> None:
    assert spans(text) == []


def test_a_unit_that_is_only_protected_spans_needs_no_model() -> None:
    doc = parse(
        "<p>https://ex.com/a</p><p>@newsdesk #Breaking</p><p>2024.</p><p>Hi.</p>", "html", "en"
    )
    assert [u.needs_model for u in doc.units] == [False, False, False, True]


# -- repair ------------------------------------------------------------------------------------


def test_mangled_url_is_overwritten_through_the_alignment() -> None:
    text = "Visit https://ex.com/news now."
    url = (6, 25)
    assert text[6:25] == "https://ex.com/news"
    output = "Посетите http :// ex. com / news сейчас."
    links = (
        TokenLink(0, 8, 0, 5),
        TokenLink(9, 13, 6, 11),
        TokenLink(14, 17, 11, 14),
        TokenLink(18, 21, 14, 17),
        TokenLink(22, 25, 17, 20),
        TokenLink(26, 27, 20, 21),
        TokenLink(28, 32, 21, 25),
        TokenLink(33, 39, 26, 29),
        TokenLink(39, 40, 29, 30),
    )
    repaired = protect.repair(text, output, links, [url])
    assert repaired.output == "Посетите https://ex.com/news сейчас."
    assert repaired.missing == ()
    assert repaired.alignment is not None
    assert documents.align.is_valid(repaired.alignment, len(repaired.output), len(text))
    # The alignment follows the edit: "сейчас" still points at "now".
    last_word = [
        link for link in repaired.alignment if repaired.output[link[0] : link[1]] == "сейчас"
    ]
    assert [(link.src_start, link.src_end) for link in last_word] == [(26, 29)]


def test_without_alignment_a_missing_span_is_reported() -> None:
    repaired = protect.repair("Mail me@ex.com today.", "Пишите мне сегодня.", None, [(5, 14)])
    assert repaired.output == "Пишите мне сегодня." and repaired.missing == (0,)


def test_a_span_present_is_left_alone_and_duplicates_are_counted() -> None:
    text = "See @a and @a."
    out = "Смотри @a."
    links = (TokenLink(0, 6, 0, 3), TokenLink(7, 9, 4, 6))
    repaired = protect.repair(text, out, links, [(4, 6), (11, 13)])
    assert repaired.output == out and repaired.missing == (1,)


def test_a_span_glued_to_a_word_is_not_counted_present() -> None:
    assert protect.find_all("ab @x @xy @x", "@x") == [3, 10]


# -- glossary ----------------------------------------------------------------------------------

FED = Glossary(
    [
        Entry("Federal Reserve", "ФРС"),
        Entry("Federal Reserve Bank of New York", "ФРБ Нью-Йорка"),
    ]
)


def test_longest_entry_first() -> None:
    text = "The Federal Reserve's move surprised the Federal Reserve Bank of New York."
    assert [(m.entry.target, m.text) for m in FED.match(text)] == [
        ("ФРС", "Federal Reserve"),
        ("ФРБ Нью-Йорка", "Federal Reserve Bank of New York"),
    ]


def test_case_and_word_boundaries() -> None:
    text = "Apple said apple prices fell; Applesauce did not."
    assert [m.text for m in glossary_module.match(text, [Entry("Apple")])] == ["Apple"]
    assert [m.text for m in glossary_module.match(text, [Entry("apple", ignore_case=True)])] == [
        "Apple",
        "apple",
    ]
    # Unicode word boundaries: an inflected Russian form is another word.
    assert glossary_module.match("Путина нет.", [Entry("Путин")]) == []
    assert [m.text for m in glossary_module.match("C++ и Си.", [Entry("C++")])] == ["C++"]


def test_a_term_split_by_a_tag_is_matched_in_the_unit_text() -> None:
    (unit,) = parse("<p>The <b>Federal</b> Reserve met.</p>", "html", "en").units
    assert [m.text for m in FED.match(unit.text)] == ["Federal Reserve"]


def test_terms_inside_protected_spans_are_not_matched() -> None:
    (unit,) = parse("Read apple.com about Apple.", "plain", "en").units
    found = Glossary([Entry("apple", ignore_case=True)]).match(
        unit.text, exclude=[(p.start, p.end) for p in unit.protected]
    )
    assert [m.start for m in found] == [21]


def _apply(
    text: str, out: str, links: tuple[TokenLink, ...] | None, terms: Glossary
) -> glossary_module.Applied:
    return glossary_module.apply(text, out, links, terms.match(text))


def test_target_already_present_is_applied() -> None:
    result = _apply("The Federal Reserve met.", "ФРС собралась.", None, FED)
    assert result.applied == ("Federal Reserve",) and result.missed == ()
    assert result.output == "ФРС собралась."


def test_kept_term_is_repaired_through_the_alignment() -> None:
    text = "Reuters reported it."
    out = "Ройтерс сообщило это."
    links = (TokenLink(0, 7, 0, 7), TokenLink(8, 20, 8, 16), TokenLink(20, 21, 19, 20))
    result = _apply(text, out, links, Glossary([Entry("Reuters")]))
    assert result.output == "Reuters сообщило это."
    assert result.applied == ("Reuters",) and result.missed == ()


def test_translated_term_is_written_into_a_clean_span_only() -> None:
    text = "The Federal Reserve met."
    out = "Федеральный резерв собрался."
    clean = (TokenLink(0, 11, 4, 11), TokenLink(12, 18, 12, 19), TokenLink(19, 27, 20, 23))
    result = _apply(text, out, clean, FED)
    assert result.output == "ФРС собрался." and result.applied == ("Federal Reserve",)
    # A word aligned elsewhere sits inside the span: not clean, reported missed, untouched.
    mixed = (TokenLink(0, 11, 4, 11), TokenLink(12, 18, 20, 23), TokenLink(19, 27, 12, 19))
    out2 = "Федеральный собрался резерв."
    result = _apply(text, out2, mixed, FED)
    assert result.output == out2 and result.applied == () and result.missed == ("Federal Reserve",)
    # And without an alignment nothing can be written in.
    result = _apply(text, out, None, FED)
    assert result.output == out and result.missed == ("Federal Reserve",)


words = st.sampled_from(["Apple", "apple", "Fed", "Reuters", "bank", "the", "of", "ФРС", "мир"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(words, min_size=1, max_size=8),
    st.lists(words, min_size=0, max_size=8),
    st.lists(
        st.tuples(
            st.sampled_from(["Apple", "Fed", "Reuters", "bank of"]),
            st.sampled_from(["", "ФРС", "мир"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=4,
    ),
    st.randoms(use_true_random=False),
)
def test_applied_and_missed_always_tell_the_truth(
    source_words: list[str],
    out_words: list[str],
    entries: list[tuple[str, str, bool]],
    rnd: random.Random,
) -> None:
    text, out = " ".join(source_words), " ".join(out_words)
    source_tokens = [w.span() for w in re.finditer(r"\S+", text)]
    links = []
    for w in re.finditer(r"\S+", out):
        s, e = rnd.choice(source_tokens)
        links.append(TokenLink(w.start(), w.end(), s, e))
    terms = Glossary([Entry(s, t, c) for s, t, c in entries])
    matches = terms.match(text)
    result = glossary_module.apply(text, out, tuple(links), matches)
    wanted: dict[str, list[str]] = {m.entry.source: [] for m in matches}
    for m in matches:
        wanted[m.entry.source].append(m.wanted)
    assert set(result.applied) | set(result.missed) == set(wanted)
    for source in result.applied:
        assert any(w in result.output for w in wanted[source])
    for source in result.missed:
        assert not any(w in result.output for w in wanted[source])
    repaired = protect.repair(text, out, tuple(links), [(m.start, m.end) for m in matches])
    for i, m in enumerate(matches):
        if i not in repaired.missing:
            assert m.text in repaired.output


# -- request checks ----------------------------------------------------------------------------


def test_format_names() -> None:
    assert check_format("") == "plain"
    assert check_format("HTML") == "html"
    assert check_format("markdown") == "markdown"
    with pytest.raises(InvalidArgument) as caught:
        check_format("docx-secret-name")
    assert caught.value.violations[0].field == "format"
    assert "docx-secret-name" not in caught.value.message


def test_glossary_checks_name_the_field() -> None:
    check_glossary([Entry("a", "b")])
    with pytest.raises(InvalidArgument) as caught:
        check_glossary([Entry("ok"), Entry("ok2", "x"), Entry("  ", "secret target")])
    assert [v.field for v in caught.value.violations] == ["glossary[2].source"]
    assert "secret" not in caught.value.message
    with pytest.raises(InvalidArgument) as caught:
        check_glossary([Entry(f"t{i}") for i in range(MAX_GLOSSARY_ENTRIES + 1)])
    assert caught.value.violations[0].field == "glossary"


def test_an_internal_parser_failure_carries_no_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(source: str) -> None:
        raise ValueError(f"cannot handle {source!r}")

    monkeypatch.setattr(documents._html, "scan", broken)
    with pytest.raises(Internal) as caught:
        parse("<p>Secret source text</p>", "html", "en")
    assert "Secret" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
