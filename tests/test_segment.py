from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from newsmt.pipeline.segment import fit, segment, sentences

from .conftest import seed_text


def joined(pieces: list) -> str:
    return "".join(p.text for p in pieces)


def test_seed_article_reassembles_byte_for_byte() -> None:
    text = seed_text()
    pieces = segment(text, "en")
    assert joined(pieces) == text
    assert sum(p.translate for p in pieces) > 15
    # Whitespace is never sent to a model; sentences never start or end with it.
    assert all(p.text.strip() == p.text for p in pieces if p.translate)
    assert all(not p.text.strip() for p in pieces if not p.translate)


def test_paragraphs_and_line_breaks_survive() -> None:
    text = "First line.\nSecond line.\r\n\r\nNew paragraph. Two sentences here.\n\n\n"
    pieces = segment(text, "en")
    assert joined(pieces) == text
    assert [p.text for p in pieces if p.translate] == [
        "First line.",
        "Second line.",
        "New paragraph.",
        "Two sentences here.",
    ]
    assert "\r\n\r\n" in [p.text for p in pieces if not p.translate]


def test_russian_and_spanish_sentences() -> None:
    assert sentences("Привет, мир! Это тест. Г-н Иванов пришёл.", "ru") == [
        "Привет, мир!",
        "Это тест.",
        "Г-н Иванов пришёл.",
    ]
    assert sentences("¿Qué pasó? El presidente habló ayer. La reunión terminó tarde.", "es") == [
        "¿Qué pasó?",
        "El presidente habló ayer.",
        "La reunión terminó tarde.",
    ]


def test_empty_and_whitespace_have_nothing_to_translate() -> None:
    assert segment("", "en") == []
    pieces = segment(" \n\t ", "en")
    assert joined(pieces) == " \n\t " and not any(p.translate for p in pieces)


def test_long_sentence_is_split_never_cut() -> None:
    words = [f"word{i}," if i % 7 == 6 else f"word{i}" for i in range(300)]
    sentence = " ".join(words) + "."
    pieces = fit(segment(sentence, "en"), lambda s: len(s.split()), 40)
    assert joined(pieces) == sentence
    assert all(len(p.text.split()) <= 40 for p in pieces if p.translate)
    assert sum(p.translate for p in pieces) >= 8


def test_word_longer_than_limit_is_split_inside() -> None:
    word = "x" * 100
    pieces = fit(segment(word, "en"), len, 30)
    assert joined(pieces) == word
    assert all(len(p.text) <= 30 for p in pieces)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300),
    st.sampled_from(["en", "ru", "es"]),
)
def test_any_text_reassembles(text: str, language: str) -> None:
    pieces = fit(segment(text, language), len, 12)
    assert joined(pieces) == text
    assert all(len(p.text) <= 12 for p in pieces if p.translate)


def test_trailing_loops_are_cut_and_flagged() -> None:
    from newsmt.pipeline.runaway import cut_loop

    assert cut_loop(["a", "b", "c"]) == (["a", "b", "c"], False)
    assert cut_loop(["x", "the", "the", "the", "the", "the"]) == (["x", "the"], True)
    assert cut_loop(["x"] + ["of", "the"] * 5) == (["x", "of", "the"], True)
    assert cut_loop(["a", "b", "a", "b", "a", "b"]) == (
        ["a", "b", "a", "b", "a", "b"],
        False,
    )  # 3 < 4
    assert cut_loop(["no", "no", "no"]) == (["no", "no", "no"], False)
