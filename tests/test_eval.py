"""`newsmt eval` offline: local files on the identity registry (BLEU and chrF 100), the tiny
demo models (the DEMO banner, calibration.json), the pass rules on synthetic scores, ROUGE, and
the server's calibration setting."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from newsmt.cli.main import main
from newsmt.client import Client
from newsmt.evaluation.data import DataError, sacrebleu_test_set
from newsmt.evaluation.metrics import (
    FLOAT32,
    INT8,
    TRANSFORMERS,
    check_rules,
    corpus_rouge,
    rouge_tokens,
    rules_pass,
)
from newsmt.evaluation.runner import parse_engines, translate_lines
from newsmt.models.calibration import (
    Calibration,
    CalibrationError,
    ModelIdentity,
    load_calibration,
    load_server_calibration,
    low_confidence_threshold,
    write_calibration,
)
from newsmt.models.factory import open_engine
from newsmt.models.registry import DEFAULT_REGISTRY, Registry
from newsmt.models.store import ModelStore
from newsmt.server.app import NewsmtServer
from newsmt.server.settings import Settings

IDENTITY = ModelIdentity("opus-mt-en-ru", "c" * 40, "ctranslate2", "int8")


def test_the_server_calibration_setting_and_its_default(tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert load_server_calibration(None, models) == {}  # no file: nothing calibrated
    entry = Calibration(IDENTITY, 500, {"p1": -2.0, "p50": -0.5})
    write_calibration(models / "calibration.json", [entry])
    assert load_server_calibration(None, models) == {IDENTITY.key: entry}
    other = tmp_path / "other.json"
    with pytest.raises(CalibrationError, match="not found"):
        load_server_calibration(other, models)  # set explicitly: it must exist
    write_calibration(other, [])
    assert load_server_calibration(other, models) == {}
    settings = Settings.load({"calibration": str(other)}, environ={})
    assert settings.calibration == other
    assert Settings.load({}, environ={}).calibration is None


# -- the pass rules, on synthetic scores -----------------------------------------------------


def scores(bleu: float, chrf: float) -> dict[str, float]:
    return {"bleu": bleu, "chrf": chrf}


def test_rules_pass_at_the_limits_and_fail_beyond() -> None:
    at_limit = {
        "en-ru": {
            INT8: scores(26.5, 52.8),
            FLOAT32: scores(27.0, 53.3),
            TRANSFORMERS: scores(26.8, 53.3),
        }
    }
    rules = check_rules(at_limit, {INT8: {"rouge2": 20.76}, FLOAT32: {"rouge2": 21.26}})
    assert [(r.name, r.passed) for r in rules] == [
        ("int8 - float32 bleu", True),
        ("int8 - float32 chrf", True),
        ("ct2 - transformers bleu", True),
        ("int8 - float32 rouge2", True),
    ]
    assert rules_pass(rules)
    assert rules[0].value == pytest.approx(-0.5)

    beyond = {
        "en-ru": {
            INT8: scores(26.4, 53.3),  # BLEU drops 0.6
            FLOAT32: scores(27.0, 53.3),
            TRANSFORMERS: scores(27.3, 53.3),  # 0.3 apart, either way counts
        },
        "ru-en": {INT8: scores(31.0, 56.7), FLOAT32: scores(31.0, 57.3)},  # chrF drops 0.6
    }
    rules = check_rules(beyond, {INT8: {"rouge2": 20.0}, FLOAT32: {"rouge2": 21.0}})
    failed = {(r.scope, r.name) for r in rules if r.passed is False}
    assert failed == {
        ("en-ru", "int8 - float32 bleu"),
        ("en-ru", "ct2 - transformers bleu"),
        ("ru-en", "int8 - float32 chrf"),
        ("summarizer", "int8 - float32 rouge2"),
    }
    skipped = [r for r in rules if r.passed is None]
    assert [(r.scope, r.name) for r in skipped] == [("ru-en", "ct2 - transformers bleu")]
    assert not rules_pass(rules)
    # An int8 engine better than float32 is no failure.
    assert rules_pass(check_rules({"en-es": {INT8: scores(36, 61), FLOAT32: scores(35, 60)}}))


def test_rouge_counts_cyrillic_and_matches_hand_values() -> None:
    assert rouge_tokens("Путин, 3,5 млн и «Газпром»!") == ["путин", "3", "5", "млн", "и", "газпром"]
    result = corpus_rouge(["Путин посетил Москву вчера"], ["Путин посетил Москву сегодня"])
    assert result["rouge1"] == pytest.approx(75.0)
    assert result["rouge2"] == pytest.approx(100 * 2 / 3)
    assert result["rougeL"] == pytest.approx(75.0)
    assert corpus_rouge(["a b c d"], ["a c b d"])["rougeL"] == pytest.approx(75.0)
    assert corpus_rouge(["x"], ["y"]) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_engine_names_are_checked() -> None:
    assert [(c.kind, c.compute_type) for c in parse_engines("ct2-int8, transformers-float32")] == [
        ("ctranslate2", "int8"),
        ("transformers", "float32"),
    ]
    with pytest.raises(ValueError, match="unknown engine 'ct2-int4'"):
        parse_engines("ct2-int4")
    with pytest.raises(ValueError, match="each once"):
        parse_engines("ct2-int8,ct2-int8")


# -- the command, offline --------------------------------------------------------------------

SOURCES = [
    "The government said on Tuesday that 3.5 million people had been evacuated.",
    "Prices rose by 12% in March, the statistics office reported.",
    "Officials met in Geneva. They agreed on a ceasefire that starts at midnight.",
    "",
    "He declined to comment.",
]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def identity_registry(tmp_path: Path) -> Path:
    text = DEFAULT_REGISTRY.read_text().replace(
        'architecture = "marian"', 'architecture = "marian"\nengine = "identity"'
    )
    path = tmp_path / "identity.toml"
    path.write_text(text)
    return path


def only_report(out: Path) -> Path:
    (folder,) = list(out.iterdir())
    return folder


def test_identity_with_reference_equal_to_source_scores_100(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_lines(tmp_path / "src.en", SOURCES)
    args = ["eval", "--pair", "en-ru", "--src", str(src), "--ref", str(src)]
    args += ["--registry", str(identity_registry(tmp_path)), "--model-dir", str(tmp_path / "m")]
    args += ["--out", str(tmp_path / "eval"), "--bootstrap-samples", "50"]
    assert main(args) == 1  # the identity engine is unpinned
    assert "--allow-unpinned" in capsys.readouterr().err
    assert main([*args, "--allow-unpinned"]) == 0
    folder = only_report(tmp_path / "eval")
    report = json.loads((folder / "report.json").read_text())
    engines = report["pairs"]["en-ru"]["engines"]
    assert list(engines) == ["identity"]
    assert engines["identity"]["bleu"]["score"] == pytest.approx(100)
    assert engines["identity"]["chrf"]["score"] == pytest.approx(100)
    assert engines["identity"]["chrf++"]["score"] == pytest.approx(100)
    assert report["pairs"]["en-ru"]["signatures"]["bleu"].startswith("BLEU|nrefs:1|bs:50")
    # The output is the English source: the quality signals see that.
    rates = engines["identity"]["flag_rates"]
    assert rates["UNTRANSLATED"] > 0 and rates["WRONG_LANGUAGE"] > 0
    assert rates["NUMBER_MISMATCH"] == 0
    assert report["demo"] is True
    assert (folder / "report.md").read_text().startswith("# DEMO")
    assert (folder / "en-ru.identity.txt").read_text().splitlines() == SOURCES


def test_the_tiny_demo_models_run_every_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "models"
    store = ModelStore(model_dir)
    registry = Registry.load()
    for name in ("opus-mt-en-ru", "distilbart-cnn-12-6"):
        store.ensure(registry.models[name], demo_size="tiny", compute_types=("int8", "float32"))
    src = write_lines(tmp_path / "src.en", SOURCES[:3])
    ref = write_lines(tmp_path / "ref.ru", ["Правительство сообщило.", "Цены выросли.", "Встреча."])
    articles = tmp_path / "articles.jsonl"
    articles.write_text(
        json.dumps({"article": " ".join(SOURCES), "highlights": SOURCES[0]}) + "\n",
        encoding="utf-8",
    )
    args = ["eval", "--pair", "en-ru", "--src", str(src), "--ref", str(ref)]
    args += ["--model-dir", str(model_dir), "--out", str(tmp_path / "eval")]
    args += ["--summarizer", "--articles", str(articles), "--limit", "3"]
    args += ["--bootstrap-samples", "20", "--threads", "1"]
    assert main(args) == 1  # demo models are unpinned
    assert main([*args, "--allow-unpinned"]) == 0, capsys.readouterr().err
    folder = only_report(tmp_path / "eval")
    md = (folder / "report.md").read_text()
    assert md.splitlines()[0].startswith("# DEMO")
    report = json.loads((folder / "report.json").read_text())
    pair = report["pairs"]["en-ru"]
    assert list(pair["engines"]) == [FLOAT32, INT8, TRANSFORMERS]  # the baseline first
    assert set(pair["deltas"]) == {"int8 - float32", "ct2 - transformers"}
    assert f"{FLOAT32} vs {INT8}" in pair["agreement"]
    for engine in pair["engines"].values():
        assert engine["logprob_samples"] > 0
        assert engine["decoding"]["num_beams"] >= 1
        assert engine["flag_rates"]["LOW_CONFIDENCE"] == 0  # never calibrated
    # Local files: no published score to compare with (the model card scores a named set).
    assert pair["test_set"] == "local" and pair["published"] is None
    assert {r["name"] for r in report["rules"]} >= {"int8 - float32 rouge2"}
    assert set(report["summarizer"]["engines"]) == {INT8, FLOAT32, TRANSFORMERS}
    assert report["models"]["opus-mt-en-ru"]["commit"] == "demo"
    assert report["models"]["opus-mt-en-ru"]["files"]
    assert report["libraries"]["sacrebleu"]

    calibration = load_calibration(folder / "calibration.json")
    keys = {(c.identity.engine, c.identity.compute_type) for c in calibration.values()}
    assert keys == {
        ("ctranslate2", "int8"),
        ("ctranslate2", "float32"),
        ("transformers", "float32"),
    }
    for entry in calibration.values():
        assert entry.identity.demo and entry.samples > 0
        # Demo weights are never calibrated, whatever the file says.
        assert low_confidence_threshold(calibration, entry.identity, min_samples=1) is None


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_lines(tmp_path / "s", ["a"])
    assert main(["eval", "--src", str(src), "--ref", str(src)]) == 2  # four pairs
    assert "exactly one --pair" in capsys.readouterr().err
    assert main(["eval", "--pair", "en-ru", "--src", str(src)]) == 2
    assert main(["eval", "--pair", "en-ru", "--engines", "ct2-int4"]) == 2
    assert "unknown engine" in capsys.readouterr().err
    if importlib.util.find_spec("comet") is None:
        assert main(["eval", "--pair", "en-ru", "--comet"]) == 2
        assert "pip install unbabel-comet" in capsys.readouterr().err


def test_a_test_set_download_offline_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.request

    def offline(*_: object, **__: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("SACREBLEU", str(tmp_path / "sacrebleu"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="needs network access once"):
        sacrebleu_test_set("wmt19", "en-ru", 10)
    with pytest.raises(DataError, match="has no en-ru"):
        sacrebleu_test_set("wmt12", "en-ru", 10)


def test_eval_translates_a_sentence_as_the_server_does(
    tiny_server: tuple[NewsmtServer, str], tiny_model_dir: Path
) -> None:
    """Eval decodes with the server's own hop functions: the same text, sentence for
    sentence, on the same tiny model and engine (random weights run into their bounds and
    loops, so the bound, content limit and loop cut all show)."""
    srv, address = tiny_server
    name = "opus-mt-en-ru"
    served = srv.pool.info(name)
    spec = srv.registry.models[name]
    store = ModelStore(tiny_model_dir)
    engine = open_engine(
        store,
        spec,
        store.locate(spec),
        kind=served.engine_kind,
        compute_type=srv.pool.compute_type(spec),
        threads=1,
    )
    sentences = [
        "The minister resigned on Tuesday.",
        "Prices rose by 3% in May, see https://example.com/prices for the figures.",
        "Café owners protest.",  # NFC
    ]
    try:
        evaluated = translate_lines(engine, sentences, "en", "ru", batch_size=1)
    finally:
        engine.close()
    with Client(address, timeout=120) as client:
        served_texts = [client.translate([s], source="en", target="ru")[0].text for s in sentences]
    assert evaluated.hypotheses == served_texts
