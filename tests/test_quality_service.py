"""Quality signals and summary faithfulness through the real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsmt.client import Client
from newsmt.server.app import create_server
from newsmt.server.settings import Settings, SettingsError

SENTENCE = (
    "The central bank raised its key rate to 16.5% on Friday, citing inflation of 7,400 units."
)


def test_identity_copy_is_untranslated_and_wrong_language_but_keeps_numbers(
    identity_client: Client,
) -> None:
    [out] = identity_client.translate([SENTENCE], source="en", target="ru")
    assert out.text == SENTENCE  # the identity engine returns the source
    q = out.quality
    assert {"UNTRANSLATED", "WRONG_LANGUAGE"} <= set(q.flags)
    assert "NUMBER_MISMATCH" not in q.flags  # every number is still there
    assert q.sentences == 1 and q.flagged_sentences == 1
    assert q.calibrated is False and q.mean_logprob == 0.0
    assert "LOW_CONFIDENCE" not in q.flags


def test_no_translation_needed_carries_no_copy_or_language_flag(identity_client: Client) -> None:
    [same] = identity_client.translate([SENTENCE], source="en", target="en")
    assert same.text == SENTENCE
    assert not {"UNTRANSLATED", "WRONG_LANGUAGE"} & set(same.quality.flags)
    [detected] = identity_client.translate([SENTENCE], target="en")  # detected as English
    assert not {"UNTRANSLATED", "WRONG_LANGUAGE"} & set(detected.quality.flags)


def test_article_quality_covers_title_and_body(identity_client: Client) -> None:
    result = identity_client.process_article(
        "Bank raises rates as inflation climbs again", SENTENCE, source="en", targets=["es"]
    )
    [t] = result.translations
    assert t.quality.sentences == 2
    assert "UNTRANSLATED" in t.quality.flags


def test_demo_model_runaways_are_truncated_and_never_low_confidence(tiny_client: Client) -> None:
    texts = [
        "The minister arrived in Moscow on Tuesday for talks.",
        "Prices rose by 3.5 percent in May, the statistics office said.",
    ]
    for out in tiny_client.translate(texts, source="en", target="ru"):
        q = out.quality
        assert out.route.demo and out.output_truncated
        assert "TRUNCATED" in q.flags  # random weights never stop: every output hits its bound
        assert q.calibrated is False and "LOW_CONFIDENCE" not in q.flags
        assert q.mean_logprob < 0  # the model's own log-probability of what it wrote
        if out.text and out.text.split()[-3:].count(out.text.split()[-1]) == 3:
            assert "REPETITION" in q.flags


def test_pivot_route_reports_both_hops(tiny_client: Client) -> None:
    [out] = tiny_client.translate(["Los precios subieron en mayo."], source="es", target="ru")
    assert out.route.models == ("opus-mt-es-en", "opus-mt-en-ru")
    assert out.quality.sentences == 1 and "TRUNCATED" in out.quality.flags


def test_summary_faithfulness_is_checked_against_what_the_summarizer_read(
    identity_client: Client,
) -> None:
    text = "The minister resigned on Monday. Polls open in May. Turnout was 61 percent."
    summary = identity_client.summarize(text, source="en", target="ru", max_sentences=2)
    f = summary.faithfulness
    assert f.checked_against_language == "en"
    # The identity summarizer copies: a fully extractive summary of the source.
    assert f.coverage == pytest.approx(1.0) and f.novel_bigram_ratio == pytest.approx(0.0)
    assert not f.flagged and not f.unsupported_numbers and not f.unsupported_entities
    result = identity_client.process_article("Resignation", text, source="en", summaries=["es"])
    [s] = result.summaries
    assert s.faithfulness.checked_against_language == "en" and s.faithfulness.coverage > 0.9


def test_a_broken_calibration_file_stops_the_server_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "calibration.json"
    bad.write_text("{not json")
    settings = Settings.load(
        {
            "port": 0,
            "metrics_port": -1,
            "http_port": -1,
            "model_dir": str(tmp_path),
            "calibration": str(bad),
        },
        environ={},
    )
    with pytest.raises(SettingsError, match="calibration"):
        create_server(settings)
