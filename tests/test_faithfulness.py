"""Summary faithfulness: Newsroom's extractive fragments checked by hand, invented numbers and
entities in English, Russian and Spanish summaries."""

from __future__ import annotations

import pytest

from newsmt.pipeline.faithfulness import (
    assess,
    fragments,
    novel_bigram_ratio,
    tokenize,
    unsupported_entities,
    unsupported_numbers,
)

ARTICLE = "The minister arrived in Moscow on Tuesday. He met the president for two hours."


def test_the_tokenizer_keeps_every_script() -> None:
    assert tokenize("Путин, 3,5%") == ["путин", ",", "3", ",", "5", "%"]
    assert tokenize("Díaz llegó á") == ["díaz", "llegó", "á"]
    # NFC: a decomposed й (и + breve) is the same token as the composed one.
    assert tokenize("Мoй".replace("й", "и\u0306")) == tokenize("Мoй")


def test_a_faithful_extractive_summary_by_hand() -> None:
    summary = "The minister arrived in Moscow. He met the president."
    # Summary tokens (11): the minister arrived in moscow . he met the president .
    # Fragments: "the minister arrived in moscow" (5), ". he met the president" (5), "." (1).
    assert fragments(tokenize(ARTICLE), tokenize(summary)) == [5, 5, 1]
    result = assess(ARTICLE, summary)
    assert result.coverage == pytest.approx(11 / 11)
    assert result.density == pytest.approx((25 + 25 + 1) / 11)
    assert result.compression == pytest.approx(16 / 11)  # 16 article tokens
    # Word bigrams: 8 in the summary, one of them ("moscow", "he") not in the article.
    assert result.novel_bigram_ratio == pytest.approx(1 / 8)
    assert result.unsupported_numbers == ()
    assert result.unsupported_entities == ()
    assert not result.flagged


def test_fragments_take_the_longest_match_then_skip_past_it() -> None:
    article = ["a", "b", "c", "x", "a", "b", "c", "d"]
    summary = ["a", "b", "c", "d", "e", "a"]
    # At "a": matches "a b c" (3) at 0 and "a b c d" (4) at 4 -> 4; "e" has none; "a" -> 1.
    assert fragments(article, summary) == [4, 1]


def test_an_invented_number_and_entity_are_flagged() -> None:
    summary = "The minister arrived in Kyiv on 3 March. He met the president."
    result = assess(ARTICLE, summary)
    assert result.unsupported_numbers == ("3",)
    assert result.unsupported_entities == ("Kyiv", "March")
    assert result.flagged


def test_russian_inflected_names_are_supported_and_invented_ones_are_not() -> None:
    source = (
        "Президент Владимир Путин провёл переговоры в Москве с делегацией Ирана. "
        "Стороны обсудили поставки газа на 3,5 млрд долларов."
    )
    faithful = "Делегация Ирана встретилась с Путиным в Москве, обсудив газ на 3.5 млрд долларов."
    result = assess(source, faithful)
    assert result.unsupported_entities == ()
    assert result.unsupported_numbers == ()  # 3.5 is 3,5
    assert not result.flagged
    invented = "Делегация Ирака встретилась с Зеленским в Киеве, обсудив газ на 7 млрд долларов."
    result = assess(source, invented)
    assert result.unsupported_entities == ("Ирака", "Зеленским", "Киеве")
    assert result.unsupported_numbers == ("7",)
    assert result.flagged


def test_spanish_summary() -> None:
    source = "El presidente Pedro Sánchez anunció ayer un plan de 2.000 millones de euros para la vivienda."
    faithful = "El Gobierno de Sánchez anunció un plan de 2000 millones de euros para la vivienda."
    result = assess(source, faithful)
    assert result.unsupported_numbers == ()
    # "Gobierno" is not in the source: a capitalised common noun counts as an entity.
    assert result.unsupported_entities == ("Gobierno",)
    invented = "El plan de Sánchez, pactado con Emmanuel Macron, costará 3.000 millones de euros."
    result = assess(source, invented)
    assert result.unsupported_numbers == ("3.000",)
    assert result.unsupported_entities == ("Emmanuel Macron",)
    assert result.flagged


def test_entity_matching_tolerates_endings_not_other_names() -> None:
    assert unsupported_entities("Переговоры прошли в Москве.", "Он был в Москва и Москвой.") == []
    assert unsupported_entities("Делегация Ирана.", "Встреча с делегацией Ирака.") == ["Ирака"]
    assert unsupported_entities("Talks in Austria.", "Talks in Australia.") == ["Australia"]
    assert unsupported_entities("Joe Biden spoke.", "Then Biden's aide spoke.") == []
    assert unsupported_entities("x", "Moscow said so.") == []  # a sentence's first word


def test_numbers_compare_by_value() -> None:
    assert unsupported_numbers("It cost 1,000 dollars.", "Стоило 1 000 долларов.") == []
    assert unsupported_numbers("It cost 1,000 dollars.", "Стоило 10 000 долларов.") == ["10 000"]


def test_a_summary_mostly_of_new_words_is_flagged() -> None:
    result = assess(ARTICLE, "Officials welcomed that decision warmly yesterday afternoon.")
    assert result.coverage < 0.5
    assert result.unsupported_numbers == () and result.unsupported_entities == ()
    assert result.flagged


def test_empty_summary() -> None:
    result = assess(ARTICLE, "")
    assert (result.coverage, result.density, result.compression) == (0.0, 0.0, 0.0)
    assert novel_bigram_ratio(ARTICLE, "") == 0.0
    assert not result.flagged
