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


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=40))
def test_loop_cut_matches_the_plain_search(tokens: list[str]) -> None:
    # cut_loop returns early when the last token does not recur in the 8 before it; the plain
    # search over every period, written out here, must agree on any token list.
    from newsmt.pipeline.runaway import MAX_PERIOD, MIN_REPEATS, cut_loop

    expected: tuple[list[str], bool] = (tokens, False)
    for period in range(1, MAX_PERIOD + 1):
        repeats = 1
        while (repeats + 1) * period <= len(tokens) and tokens[
            len(tokens) - (repeats + 1) * period : len(tokens) - repeats * period
        ] == tokens[len(tokens) - period :]:
            repeats += 1
        if repeats >= MIN_REPEATS:
            expected = (tokens[: len(tokens) - (repeats - 1) * period], True)
            break
    assert cut_loop(tokens) == expected


# The one-sentence shortcut must say "one sentence" only where pysbd does. Two strategies:
# text made only of what the shortcut accepts (it always applies), and text over a wider
# alphabet of what pysbd reacts to (quotes, brackets, list markers, abbreviations, marks),
# checked wherever the shortcut applies.
_SAFE = [*"abcxyzABCMSUМирпривЁёñáéíóú0123456789 ,;:%$/&—–\t", "\u00a0", "Mr", "Dr", "U"]
_WIDER = _SAFE + list(".!?…)('\"«»“”‘’-[]•·\u2028\x0b\x0c\x85¿¡") + ["-'", "1)", "a)"]
_ENDS = ["", ".", "!", "?", "\u2026", "...", "!!!", "?!"]


def _check_shortcut(line: str, language: str) -> bool:
    from newsmt.pipeline.segment import _ONE_SENTENCE, _pysbd_sentences, _sentences

    line = line.strip()
    if not line or not _ONE_SENTENCE.fullmatch(line):
        return False
    assert _sentences(line, language) == _pysbd_sentences(line, language) == [line]
    return True


@settings(max_examples=500, deadline=None)
@given(
    words=st.lists(st.sampled_from(_SAFE), max_size=40),
    joiner=st.sampled_from(["", "-", "'", "\u2019"]),
    end=st.sampled_from(["", ".", "!", "?", "\u2026"]),
    language=st.sampled_from(["en", "ru", "es"]),
)
def test_one_sentence_shortcut_agrees_with_pysbd(
    words: list[str], joiner: str, end: str, language: str
) -> None:
    # Hyphens and apostrophes only ever inside a word ("Russia's", "co-operation").
    line = ("x" + joiner + "y" + "".join(words) + end).strip()
    assert _check_shortcut(line, language)


@settings(max_examples=1500, deadline=None)
@given(
    body=st.lists(st.sampled_from(_WIDER), max_size=40).map("".join),
    end=st.sampled_from(_ENDS),
    language=st.sampled_from(["en", "ru", "es"]),
)
def test_one_sentence_shortcut_never_disagrees_with_pysbd(
    body: str, end: str, language: str
) -> None:
    _check_shortcut(body + end, language)  # asserts wherever the shortcut applies


def test_one_sentence_shortcut_leaves_real_boundaries_to_pysbd() -> None:
    from newsmt.pipeline.segment import _ONE_SENTENCE

    for text in ["One. Two.", "1) foo 2) bar", "Hi!\nThere", "a) x b) y", "a-' Mr"]:
        assert not _ONE_SENTENCE.fullmatch(text)
        assert len(sentences(text, "en")) == 2
    for text in ["Wait 5...", "Dr. Smith came", 'He said "yes"', "Russia's envoy, Mr Antonov."]:
        assert bool(_ONE_SENTENCE.fullmatch(text)) == (text == "Russia's envoy, Mr Antonov.")
