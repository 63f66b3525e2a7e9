"""calibration.json: percentiles, writing and loading, validation, and when a model counts as
calibrated (never for demo models or the identity engine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newsmt.models.calibration import (
    Calibration,
    CalibrationError,
    ModelIdentity,
    calibration_path,
    load_calibration,
    low_confidence_threshold,
    percentiles,
    write_calibration,
)

REAL = ModelIdentity("opus-mt-en-ru", "0" * 40, "ctranslate2", "int8")
DEMO = ModelIdentity("opus-mt-en-es", "demo", "ctranslate2", "int8", demo=True)
SCORES = [-(i / 100) for i in range(1, 201)]  # -0.01 .. -2.00


def entries() -> list[Calibration]:
    return [
        Calibration(REAL, len(SCORES), percentiles(SCORES), test_set="wmt19"),
        Calibration(DEMO, len(SCORES), percentiles(SCORES)),
    ]


def test_percentiles_by_hand() -> None:
    # numpy's linear method: position (n - 1) * q / 100 between order statistics.
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentiles(values, (50, 25, 1)) == {"p50": 2.5, "p25": 1.75, "p1": 1.03}
    assert percentiles([-1.0]) == {f"p{q}": -1.0 for q in (1, 5, 10, 25, 50, 75, 90, 95, 99)}
    assert percentiles(SCORES, (99.9,))["p99.9"] == pytest.approx(-0.01199)
    with pytest.raises(ValueError, match="at least one"):
        percentiles([])
    with pytest.raises(ValueError, match="finite"):
        percentiles([float("-inf")])
    with pytest.raises(ValueError, match=r"\(0, 100\)"):
        percentiles([1.0], (100,))


def test_write_load_and_threshold(tmp_path: Path) -> None:
    path = calibration_path(tmp_path)
    write_calibration(path, entries())
    loaded = load_calibration(path)
    assert set(loaded) == {REAL.key, DEMO.key}
    assert REAL.key == f"opus-mt-en-ru@{'0' * 40}/ctranslate2/int8"
    assert loaded[REAL.key] == entries()[0]
    threshold = low_confidence_threshold(loaded, REAL)
    assert threshold == pytest.approx(-1.9801)  # p1 of -2.00 .. -0.01
    # Another compute type, other weights, a demo model, the identity engine: not calibrated.
    assert (
        low_confidence_threshold(
            loaded, ModelIdentity(REAL.name, REAL.commit, "ctranslate2", "float32")
        )
        is None
    )
    assert (
        low_confidence_threshold(loaded, ModelIdentity(REAL.name, "1" * 40, "ctranslate2", "int8"))
        is None
    )
    assert low_confidence_threshold(loaded, DEMO) is None
    assert (
        low_confidence_threshold(loaded, ModelIdentity(REAL.name, REAL.commit, "identity", "int8"))
        is None
    )
    assert low_confidence_threshold({}, REAL) is None


def test_too_few_samples_calibrate_nothing(tmp_path: Path) -> None:
    few = Calibration(REAL, 20, percentiles(SCORES[:20]))
    assert low_confidence_threshold({REAL.key: few}, REAL) is None
    assert low_confidence_threshold({REAL.key: few}, REAL, min_samples=20) == pytest.approx(-0.1981)


def test_a_demo_entry_under_a_real_identity_is_not_used() -> None:
    entry = Calibration(
        ModelIdentity(REAL.name, REAL.commit, REAL.engine, REAL.compute_type, demo=True),
        500,
        {"p1": -2.0},
    )
    assert low_confidence_threshold({REAL.key: entry}, REAL) is None


def _file(tmp_path: Path, edit: Any) -> Path:
    path = tmp_path / "calibration.json"
    write_calibration(path, entries()[:1])
    data = json.loads(path.read_text())
    edit(data["models"][REAL.key])
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e.update(engine="onnx"), "'engine' must be one of"),
        (lambda e: e.update(demo="no"), "'demo' must be true or false"),
        (lambda e: e.update(samples=0), "'samples' must be an integer >= 1"),
        (lambda e: e.update(samples=True), "'samples' must be an integer >= 1"),
        (lambda e: e.update(compute_type="float32"), "the key must be"),
        (lambda e: e["percentiles"].pop("p1"), "must include p1"),
        (lambda e: e["percentiles"].update(p50=-5.0), "must not decrease"),
        (lambda e: e["percentiles"].update(median=-1.0), "percentile names"),
        (lambda e: e["percentiles"].update(p100=0.0), "percentile names"),
        (lambda e: e["percentiles"].update(p5="low"), "percentiles.p5 must be a number"),
        (lambda e: e.update(threshold=-2.0), "unknown keys threshold"),
        (lambda e: e.pop("model"), "'model' must be a non-empty string"),
    ],
)
def test_a_malformed_entry_is_refused(tmp_path: Path, edit: Any, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        load_calibration(_file(tmp_path, edit))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(tmp_path / "calibration.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    with pytest.raises(CalibrationError, match="not valid JSON"):
        load_calibration(bad)
    bad.write_text('{"version": 1, "models": []}')
    with pytest.raises(CalibrationError, match="'models' must be an object"):
        load_calibration(bad)
    # Infinite values cannot be written either.
    with pytest.raises(CalibrationError, match="finite"):
        write_calibration(bad, [Calibration(REAL, 200, {"p1": float("-inf")})])
