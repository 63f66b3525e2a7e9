"""`newsmt eval` offline: local files on the identity registry (BLEU and chrF 100), the tiny
demo models (the DEMO banner, calibration.json), the pass rules on synthetic scores, ROUGE, and
the server's calibration setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsmt.models.calibration import (
    Calibration,
    CalibrationError,
    ModelIdentity,
    load_server_calibration,
    write_calibration,
)
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
