"""Per-sentence quality signals on hand-written en/ru/es pairs, their roll-ups, and the
conversion of engine scores to Seq-Logprob (checked against a real CTranslate2 model)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsmt.engines.scores import (
    ct2_scored_length,
    generated_logprobs,
    mean_token_logprob,
    mean_token_logprob_from_ct2,
)
from newsmt.pipeline import numbers
from newsmt.pipeline.quality import (
    Flag,
    QualityThresholds,
    SentenceQuality,
    aggregate,
    assess,
    chrf,
    combine,
    compose_pivot,
    loop_repeats,
    script_share,
    top_bigram_count,
)

Detector = Callable[[str], tuple[str, float]]


def flags(source: str, output: str, src: str, tgt: str, **kwargs: object) -> frozenset[Flag]:
    return assess(output=output, source=source, source_lang=src, target_lang=tgt, **kwargs).flags  # type: ignore[arg-type]


class FakeDetector:
    """Answers from a table, and records what it was asked."""

    def __init__(self, answers: dict[str, tuple[str, float]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, text: str) -> tuple[str, float]:
        self.asked.append(text)
        return self.answers.get(text, ("", 0.0))


# -- correct translations: no flag at all ---------------------------------------------------------

CORRECT = [
    (
        "en",
        "ru",
        "The central bank raised its key rate to 16 percent on Friday.",
        "Центральный банк в пятницу повысил ключевую ставку до 16 процентов.",
    ),
    (
        "ru",
        "en",
        "Министр иностранных дел прибыл в Мадрид для переговоров о торговле.",
        "The foreign minister arrived in Madrid for talks on trade.",
    ),
    (
        "en",
        "es",
        "Pedro Sánchez met Emmanuel Macron in Paris to discuss energy prices.",
        "Pedro Sánchez se reunió con Emmanuel Macron en París para hablar de los precios de la energía.",
    ),
    (
        "es",
        "en",
        "El Gobierno aprobó ayer un plan de 2.000 millones de euros para la vivienda.",
        "The government yesterday approved a 2,000 million euro plan for housing.",
    ),
    (
        "en",
        "ru",
        "Inflation slowed to 3.5% in March, the statistics office said.",
        "Инфляция в марте замедлилась до 3,5%, сообщило статистическое ведомство.",
    ),
    (
        "en",
        "es",
        "The city has 1,250,000 inhabitants and a budget of 2.75 billion euros.",
        "La ciudad tiene 1.250.000 habitantes y un presupuesto de 2,75 mil millones de euros.",
    ),
    (
        "ru",
        "en",
        "Бюджет проекта составил 1\u00a0500\u00a0000 рублей, или 12\u202f000 евро.",
        "The project's budget was 1,500,000 rubles, or 12,000 euros.",
    ),
    (
        "en",
        "ru",
        "Apple unveiled a new iPhone and an updated MacBook Pro in California.",
        "Компания Apple представила новый iPhone и обновлённый MacBook Pro в Калифорнии.",
    ),
]


@pytest.mark.parametrize(("src", "tgt", "source", "output"), CORRECT)
def test_a_correct_translation_has_no_flag(src: str, tgt: str, source: str, output: str) -> None:
    detector = FakeDetector({output: (tgt, 0.99)})
    quality = assess(source, output, source_lang=src, target_lang=tgt, detect=detector)
    assert quality.flags == frozenset()
    assert detector.asked == [output]  # long enough to ask; the detector agreed
    [signals] = quality.signals
    assert signals.missing_numbers == 0
    assert signals.copy_chrf is not None and signals.copy_chrf < 0.9


def test_localised_decimals_and_grouping_are_the_same_numbers() -> None:
    assert flags("Growth was 3.5 percent.", "Рост составил 3,5 процента.", "en", "ru") == set()
    assert flags("Creció un 3,5 por ciento.", "It grew by 3.5 percent.", "es", "en") == set()
    assert flags("Sold 1,000 cars.", "Vendió 1.000 coches.", "en", "es") == set()
    assert flags("Sold 1,000 cars.", "Продано 1 000 машин.", "en", "ru") == set()
    assert flags("Sold 1,000 cars.", "Продано 1\u202f000 машин.", "en", "ru") == set()
    assert flags("Sold 1,000 cars.", "Продано 1000 машин.", "en", "ru") == set()


# -- each signal ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "output", "src", "tgt"),
    [
        (
            "The minister arrived in Moscow on Tuesday.",
            "Министр прибыл в Москву во вторник вторник вторник вторник вторник.",
            "en",
            "ru",
        ),
        ("Talks ended late.", "Las conversaciones terminaron tarde tarde tarde tarde.", "en", "es"),
        ("Переговоры завершились поздно.", "The talks ended hunhunhunhunhun.", "ru", "en"),
    ],
)
def test_a_loop_is_repetition(source: str, output: str, src: str, tgt: str) -> None:
    quality = assess(source, output, source_lang=src, target_lang=tgt)
    assert Flag.REPETITION in quality.flags
    assert quality.signals[0].loop_repeats >= 4


def test_scattered_repetition_fires_the_bigram_rule() -> None:
    nouns = [
        "casa",
        "mesa",
        "silla",
        "puerta",
        "ventana",
        "calle",
        "plaza",
        "torre",
        "iglesia",
        "escuela",
    ]
    output = "Habló " + ", ".join(f"de la {n}" for n in nouns) + "."
    source = "He spoke about the house and the table."
    assert loop_repeats(output) == 1  # nothing back to back
    assert top_bigram_count(output) == 10
    assert Flag.REPETITION in flags(source, output, "en", "es")
    # The same count in the source is content, not a loop.
    assert Flag.REPETITION not in flags(output, output.replace("Habló", "Spoke"), "es", "en")


def test_a_loop_the_source_has_is_not_repetition() -> None:
    assert flags("He laughed: ha ha ha ha ha.", "Se rió: ja ja ja ja ja.", "en", "es") == set()
    assert Flag.REPETITION in flags("He laughed: ha ha.", "Se rió: ja ja ja ja ja ja.", "en", "es")


def test_a_loop_the_pipeline_cut_is_repetition() -> None:
    assert flags("Hello there.", "Hola.", "en", "es", loop_cut=True) == {Flag.REPETITION}


@pytest.mark.parametrize(
    ("source", "output", "src", "tgt"),
    [
        (
            "The central bank raised its key rate to sixteen percent.",
            "Центральный банк повысил ключевую ставку до шестнадцати процентов.",
            "en",
            "es",
        ),
        (
            "El Gobierno aprobó un nuevo plan de vivienda para los jóvenes.",
            "Правительство одобрило новый жилищный план для молодёжи.",
            "es",
            "en",
        ),
        (
            "Правительство одобрило новый жилищный план для молодёжи.",
            "The government approved a new housing plan for young people.",
            "ru",
            "ru",  # a same-language pair never judges language; see below
        ),
    ],
)
def test_wrong_script(source: str, output: str, src: str, tgt: str) -> None:
    quality = assess(source, output, source_lang=src, target_lang=tgt)
    if src == tgt:
        assert Flag.WRONG_LANGUAGE not in quality.flags
    else:
        assert quality.flags == {Flag.WRONG_LANGUAGE}
        assert quality.signals[0].script_share == 0.0


def test_english_output_for_spanish_needs_the_detector() -> None:
    source = "The government approved a new housing plan for young people."
    output = "The government approved a new plan for housing for young people."
    assert flags(source, output, "en", "es") == set()  # Latin either way
    sure = FakeDetector({output: ("en", 0.97)})
    assert flags(source, output, "en", "es", detect=sure) == {Flag.WRONG_LANGUAGE}
    unsure = FakeDetector({output: ("en", 0.6)})
    assert flags(source, output, "en", "es", detect=unsure) == set()


def test_short_text_is_not_judged_for_language() -> None:
    detector = FakeDetector({"OK, Boris.": ("en", 0.99)})
    assert flags("Хорошо, Борис.", "OK, Boris.", "ru", "es", detect=detector) == set()
    assert detector.asked == []
    assert script_share("OK, Boris.", "ru", QualityThresholds().script_min_letters) is None


def test_names_in_latin_script_do_not_make_russian_wrong() -> None:
    share = script_share("Компания Apple представила новый iPhone.", "ru", 12)
    assert share == 1.0
    assert script_share("Apple iPhone MacBook представила", "ru", 12) == pytest.approx(
        11 / (5 + 6 + 7 + 11)
    )


@pytest.mark.parametrize(
    ("source", "output", "src", "tgt", "expected"),
    [
        (
            "The prime minister said the government would present a new budget.",
            "The prime minister said the government would present a new budget.",
            "en",
            "ru",
            {Flag.UNTRANSLATED, Flag.WRONG_LANGUAGE},
        ),
        (
            "El presidente de la Comisión Europea visitó Madrid el viernes.",
            "El presidente de la Comisión Europea visitó Madrid el viernes!",
            "es",
            "en",
            {Flag.UNTRANSLATED},  # Latin script either way; the detector would add the rest
        ),
        (
            "Премьер-министр заявил, что правительство представит новый бюджет.",
            "Премьер-министр заявил, что правительство представит новый бюджет.",
            "ru",
            "es",
            {Flag.UNTRANSLATED, Flag.WRONG_LANGUAGE},
        ),
    ],
)
def test_a_copy_is_untranslated(
    source: str, output: str, src: str, tgt: str, expected: set[Flag]
) -> None:
    quality = assess(source, output, source_lang=src, target_lang=tgt)
    assert quality.flags == expected
    assert quality.signals[0].copy_chrf is not None and quality.signals[0].copy_chrf >= 0.9


def test_a_short_copy_is_not_judged() -> None:
    assert flags("Real Madrid won.", "Real Madrid won.", "en", "es") == set()


@pytest.mark.parametrize(
    ("source", "output", "src", "tgt"),
    [
        (
            "The company hired 250 new workers in 2023.",
            "Компания наняла новых работников в 2023 году.",
            "en",
            "ru",
        ),
        ("Inflation slowed to 3.5 percent.", "La inflación bajó al 35 por ciento.", "en", "es"),
        ("Рост составил 3,5 процента.", "Growth was 3.6 percent.", "ru", "en"),
    ],
)
def test_a_lost_number_is_a_mismatch(source: str, output: str, src: str, tgt: str) -> None:
    quality = assess(source, output, source_lang=src, target_lang=tgt)
    assert quality.flags == {Flag.NUMBER_MISMATCH}
    assert quality.signals[0].missing_numbers == 1


def test_length_ratio() -> None:
    source = "The prime minister said on Tuesday that the government would present a budget."
    assert flags(source, "Премьер.", "en", "ru") == {Flag.LENGTH_RATIO}
    assert flags(source, "", "en", "ru") == {Flag.LENGTH_RATIO}
    assert flags("Hi.", "", "en", "es") == {Flag.LENGTH_RATIO}  # empty always fires
    # A one-word source with a long, correct translation is too short to judge.
    assert flags("UN.", "Организация Объединённых Наций.", "en", "ru") == set()
    quality = assess(
        "Talks failed.",
        "Las conversaciones fracasaron y el gobierno anunció elecciones anticipadas en todo el país.",
        source_lang="en",
        target_lang="es",
    )
    assert quality.flags == {Flag.LENGTH_RATIO}
    assert quality.signals[0].length_ratio == pytest.approx(91 / 13)


def test_truncated_is_passed_through() -> None:
    assert flags("Hello.", "Hola.", "en", "es", truncated=True) == {Flag.TRUNCATED}


def test_low_confidence_only_when_calibrated() -> None:
    uncalibrated = assess("Hello.", "Hola.", source_lang="en", target_lang="es", mean_logprob=-9.0)
    assert uncalibrated.flags == frozenset()
    assert not uncalibrated.calibrated
    assert uncalibrated.mean_logprob == -9.0
    low = assess(
        "Hello.",
        "Hola.",
        source_lang="en",
        target_lang="es",
        mean_logprob=-2.5,
        low_confidence_below=-2.0,
    )
    assert low.flags == {Flag.LOW_CONFIDENCE}
    assert low.calibrated
    fine = assess(
        "Hello.",
        "Hola.",
        source_lang="en",
        target_lang="es",
        mean_logprob=-0.4,
        low_confidence_below=-2.0,
    )
    assert fine.flags == frozenset()
    assert fine.calibrated


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The minister arrived in Moscow on Tuesday with 2 advisers.", "en"),
        ("Министр прибыл в Москву во вторник с 2 советниками.", "ru"),
        ("El ministro llegó a Moscú el martes con 2 asesores.", "es"),
    ],
)
def test_same_language_pass_through_has_no_flag(text: str, lang: str) -> None:
    detector = FakeDetector({text: ("es" if lang != "es" else "en", 0.99)})
    quality = assess(text, text, source_lang=lang, target_lang=lang, detect=detector)
    assert quality.flags == frozenset()
    assert detector.asked == []


def test_empty_source_has_only_the_passed_in_flags() -> None:
    assert flags("  ", "", "en", "ru", truncated=True) == {Flag.TRUNCATED}


def test_the_real_detector_catches_english_for_spanish() -> None:
    from newsmt.pipeline.detect import LanguageDetection

    detect = LanguageDetection().detect
    source = "The government approved a new housing plan for young people on Monday."
    english = "The government approved on Monday a new plan of housing for young people."
    spanish = "El Gobierno aprobó el lunes un nuevo plan de vivienda para los jóvenes."
    assert flags(source, english, "en", "es", detect=detect) == {Flag.WRONG_LANGUAGE}
    assert flags(source, spanish, "en", "es", detect=detect) == set()


# -- roll-ups -------------------------------------------------------------------------------------


def test_aggregate_takes_the_lowest_score_and_the_union_of_flags() -> None:
    sentences = [
        SentenceQuality(frozenset(), -0.4, True),
        SentenceQuality(frozenset({Flag.TRUNCATED}), -1.2, True),
        SentenceQuality(frozenset({Flag.TRUNCATED, Flag.REPETITION}), -0.9, True),
    ]
    segment = aggregate(sentences)
    assert segment.mean_logprob == -1.2
    assert segment.flags == {Flag.TRUNCATED, Flag.REPETITION}
    assert (segment.flagged_sentences, segment.sentences, segment.calibrated) == (2, 3, True)
    mixed = aggregate([*sentences, SentenceQuality(frozenset(), None, False)])
    assert not mixed.calibrated
    assert mixed.mean_logprob == -1.2
    empty = aggregate([])
    assert (empty.mean_logprob, empty.flags, empty.sentences, empty.calibrated) == (
        None,
        frozenset(),
        0,
        False,
    )
    title_and_body = combine([aggregate(sentences[:1]), aggregate(sentences[1:]), empty])
    assert title_and_body == segment


def test_pivot_takes_the_lower_hop_and_both_hops_flags() -> None:
    first = assess(
        "Министр прибыл в Москву в 2023 году.",
        "The minister arrived in Moscow in 2023.",
        source_lang="ru",
        target_lang="en",
        mean_logprob=-0.3,
        low_confidence_below=-2.0,
    )
    second = assess(
        "The minister arrived in Moscow in 2023.",
        "El ministro llegó a Moscú.",
        source_lang="en",
        target_lang="es",
        mean_logprob=-0.8,
        low_confidence_below=-2.0,
        truncated=True,
    )
    both = compose_pivot(first, second)
    assert both.mean_logprob == -0.8
    assert both.flags == {Flag.NUMBER_MISMATCH, Flag.TRUNCATED}
    assert both.calibrated
    assert len(both.signals) == 2
    assert not compose_pivot(first, SentenceQuality(mean_logprob=-5.0)).calibrated


# -- chrF -----------------------------------------------------------------------------------------


def test_chrf_by_hand() -> None:
    # "ab" vs "ac": unigrams a,b / a,c -> P = R = 1/2; bigrams ab / ac -> P = R = 0.
    # Averaged over both orders: P = R = 1/4, and F2 = 1/4.
    assert chrf("ab", "ac") == pytest.approx(0.25)
    assert chrf("a b c", "abc") == 1.0  # whitespace does not count
    assert chrf("", "abc") == 0.0


CHRF_PAIRS = [
    ("The minister arrived in Moscow.", "The minister arrived in Moscow!"),
    ("Министр прибыл в Москву во вторник.", "Министр прибыл в Москву."),
    ("El ministro llegó a Moscú.", "The minister arrived in Moscow."),
    ("a", "abcdefgh"),
    ("", "x"),
]


@pytest.fixture(scope="module")
def sacrebleu_chrf() -> Iterator[Callable[[str, str], float]]:
    from sacrebleu import metrics

    metric = metrics.CHRF()
    yield lambda hyp, ref: float(metric.sentence_score(hyp, [ref]).score) / 100


@pytest.mark.parametrize(("hyp", "ref"), CHRF_PAIRS)
def test_chrf_matches_sacrebleu(
    sacrebleu_chrf: Callable[[str, str], float], hyp: str, ref: str
) -> None:
    assert chrf(hyp, ref) == pytest.approx(sacrebleu_chrf(hyp, ref), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    hyp=st.text(alphabet="abcабв ,.1", max_size=30), ref=st.text(alphabet="abcабв ,.1", max_size=30)
)
def test_chrf_matches_sacrebleu_on_random_text(hyp: str, ref: str) -> None:
    from sacrebleu import metrics

    expected = float(metrics.CHRF().sentence_score(hyp, [ref]).score) / 100
    assert chrf(hyp, ref) == pytest.approx(expected, abs=1e-9)


# -- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "readings"),
    [
        ("3.5", {("3.5",)}),
        ("3,5", {("3.5",)}),
        ("1,000", {("1000",), ("1",)}),
        ("1.000", {("1",), ("1000",)}),
        ("1\u00a0000\u00a0000", {("1000000",)}),
        ("1 234,50", {("1234.5",), ("1", "234", "50")}),
        ("1,234.5", {("1234.5",)}),
        ("12.05.2020", {("12", "5", "2020")}),
        ("007", {("7",)}),
    ],
)
def test_number_readings(text: str, readings: set[tuple[str, ...]]) -> None:
    [number] = numbers.parse(text)
    assert set(number.readings) == readings


def test_numbers_apart_stay_apart() -> None:
    assert [n.text for n in numbers.parse("In 2019 500 people, 3.5% and 10:30.")] == [
        "2019 500",
        "3.5",
        "10",
        "30",
    ]
    assert numbers.missing("In 2019 500 people came.", "500 personas vinieron en 2019.") == []
    assert numbers.missing("Page 5 100 people", "5100 человек") == []


# -- engine scores --------------------------------------------------------------------------------


def test_ct2_score_conversion_by_hand() -> None:
    # 4 tokens with log-probs summing to -2.0; CTranslate2 reports -2.0 / 4 ** 0.6.
    score = -2.0 / 4**0.6
    assert mean_token_logprob_from_ct2(score, 4, 0.6) == pytest.approx(-0.5)
    assert mean_token_logprob_from_ct2(-0.5, 4, 1.0) == pytest.approx(-0.5)
    assert mean_token_logprob_from_ct2(-2.0, 4, 0.0) == pytest.approx(-0.5)
    # A forced first token scored 0 is left out of the mean.
    assert mean_token_logprob_from_ct2(-2.0 / 5, 5, 1.0, zero_score_tokens=1) == pytest.approx(-0.5)
    assert ct2_scored_length(3, 10) == 4  # stopped on the end token, which was stripped
    assert ct2_scored_length(10, 10) == 10  # hit the bound: no end token
    assert ct2_scored_length(4, 10, return_end_token=True) == 4
    with pytest.raises(ValueError, match="num_tokens"):
        mean_token_logprob_from_ct2(-1.0, 0, 1.0)
    with pytest.raises(ValueError, match="zero_score_tokens"):
        mean_token_logprob_from_ct2(-1.0, 2, 1.0, zero_score_tokens=2)


def test_transformers_rows_stop_at_the_end_token() -> None:
    scores = [-0.0, -1.0, -2.0, -3.0, 0.0, 0.0]  # <s> forced, two words, </s>, padding
    ids = [0, 11, 12, 2, 1, 1]
    assert generated_logprobs(scores, ids, {2}) == [-0.0, -1.0, -2.0, -3.0]
    kept = generated_logprobs(scores, ids, {2}, skip_first=1)
    assert mean_token_logprob(kept) == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="no token"):
        mean_token_logprob([])
    with pytest.raises(ValueError, match="same length"):
        generated_logprobs([-1.0], [1, 2], {2})


MICRO_CT2 = Path(__file__).parent / "data" / "micro-ct2"


@pytest.fixture(scope="module")
def micro_ct2() -> object:
    """A one-layer, 8-wide CTranslate2 Transformer with random weights (data/make_micro_ct2.py)."""
    import ctranslate2

    return ctranslate2.Translator(str(MICRO_CT2), compute_type="float32", intra_threads=1)


SOURCES = [[f"w{i}", f"w{i + 1}", "</s>"] for i in range(0, 26, 3)]


@pytest.mark.parametrize("beam", [1, 4])
@pytest.mark.parametrize("length_penalty", [1.0, 0.6, 0.0])
@pytest.mark.parametrize("prefix", [None, ["w9"]])
@pytest.mark.parametrize("bound", [3, 12])
def test_ct2_scores_convert_to_the_mean_of_score_batch(
    micro_ct2: object, beam: int, length_penalty: float, prefix: list[str] | None, bound: int
) -> None:
    """The reference: `score_batch` gives each target token's log-prob, end token included."""
    translator: object = micro_ct2
    sources = SOURCES
    results = translator.translate_batch(  # type: ignore[attr-defined]
        sources,
        target_prefix=[prefix] * len(sources) if prefix else None,
        beam_size=beam,
        length_penalty=length_penalty,
        return_scores=True,
        max_decoding_length=bound,
        min_decoding_length=0,
    )
    for source, result in zip(sources, results, strict=True):
        hypothesis = result.hypotheses[0]
        [scored] = translator.score_batch([source], [hypothesis])  # type: ignore[attr-defined]
        n = ct2_scored_length(len(hypothesis), bound)
        # score_batch always appends the end token; a hypothesis cut at the bound never had it.
        logprobs = scored.log_probs[:n]
        skip = len(prefix) if prefix else 0
        expected = math.fsum(logprobs[skip:]) / (n - skip)
        got = mean_token_logprob_from_ct2(
            result.scores[0], n, length_penalty, zero_score_tokens=skip
        )
        assert got == pytest.approx(expected, abs=1e-4)


def test_the_micro_model_both_stops_early_and_hits_the_bound(micro_ct2: object) -> None:
    """So that the conversion test covers both kinds of hypothesis, and more than one token."""
    results = micro_ct2.translate_batch(  # type: ignore[attr-defined]
        SOURCES, beam_size=1, max_decoding_length=12, min_decoding_length=0
    )
    lengths = [len(r.hypotheses[0]) for r in results]
    assert 12 in lengths
    assert any(0 < n < 12 for n in lengths)


@given(st.text(alphabet="ab .,-1", max_size=60))
@settings(max_examples=300, deadline=None)
def test_loop_repeats_prefilter_changes_nothing(text: str) -> None:
    # The one-search prefilter may only skip text in which no per-length pattern matches.
    folded = text.casefold()
    expected = 1
    for n in range(2, 11):
        for match in re.finditer(rf"(.{{{n}}})\1+", folded, re.DOTALL):
            unit = match.group(1)
            if not any(c.isalpha() for c in unit):
                continue
            repeats = len(match.group(0)) // n
            stem = re.sub(r"[\W_]+$", "", unit)
            if stem != unit and stem and folded.startswith(stem, match.end()):
                repeats += 1
            expected = max(expected, repeats)
    assert loop_repeats(text, max_unit=10) == expected
