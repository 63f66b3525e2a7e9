"""`calibration.json`: where Seq-Logprob is low for each model, as `newsmt eval` measured it.

No paper gives an absolute Seq-Logprob threshold (Guerreiro et al. 2023 and Dale et al. 2023
report ROC-AUC and precision at a recall): the scores depend on the model, its weights, the engine
and its compute type. `newsmt eval` scores a
test set and writes the percentiles of the per-sentence mean token log-probabilities; the server
loads them (`--calibration`, default `models/calibration.json`) and flags LOW_CONFIDENCE below the
first percentile of the model that is serving. Demo models and the identity engine are never
calibrated: their scores mean nothing.

    {
      "version": 1,
      "models": {
        "opus-mt-en-ru@<commit>/ctranslate2/int8": {   # ModelIdentity.key
          "model": "opus-mt-en-ru",                    # registry name
          "commit": "<commit SHA, or 'demo'>",         # the weights (lock file)
          "engine": "ctranslate2",                     # ctranslate2 | transformers | identity
          "compute_type": "int8",
          "demo": false,
          "samples": 1997,                             # sentences scored
          "test_set": "wmt19",                         # optional, free text
          "percentiles": {"p1": -1.92, "p5": -1.41, "p50": -0.63, "p95": -0.21, "p99": -0.12}
        }
      }
    }

Percentile names are `p` and a number in (0, 100); `p1` is required; values are non-decreasing
in the percentile. Percentiles interpolate linearly between order statistics (numpy's default).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsmt.models.identity import ModelIdentity
from newsmt.models.jsonfile import read_models, write_models

CALIBRATION_NAME = "calibration.json"
VERSION = 1
ENGINES = ("ctranslate2", "transformers", "identity")
#: The percentiles `newsmt eval` writes.
DEFAULT_POINTS: tuple[float, ...] = (1, 5, 10, 25, 50, 75, 90, 95, 99)
#: LOW_CONFIDENCE fires below this percentile.
THRESHOLD_PERCENTILE = "p1"
#: Fewer scored sentences than this calibrate nothing: the first percentile of a handful of
#: sentences is just their minimum [est].
MIN_SAMPLES = 100

_PERCENTILE = re.compile(r"p(\d+(?:\.\d+)?)")


class CalibrationError(ValueError):
    """The calibration file is missing or malformed. The message names the file and the key."""


@dataclass(frozen=True)
class Calibration:
    identity: ModelIdentity
    samples: int
    percentiles: Mapping[str, float]
    test_set: str | None = None


def calibration_path(model_dir: Path) -> Path:
    return model_dir / CALIBRATION_NAME


def percentiles(
    scores: Sequence[float], points: Iterable[float] = DEFAULT_POINTS
) -> dict[str, float]:
    """The percentiles of `scores` by linear interpolation between order statistics (numpy's
    default method), named like `p1`, `p50`, `p99.9`."""
    ordered = sorted(float(s) for s in scores)
    if not ordered or any(not math.isfinite(s) for s in ordered):
        raise ValueError("percentiles need at least one score, all finite")
    out = {}
    for q in points:
        if not 0 < q < 100:
            raise ValueError("percentile points must be in (0, 100)")
        position = (len(ordered) - 1) * q / 100
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
        out[f"p{q:g}"] = value
    return out


def low_confidence_threshold(
    calibration: Mapping[str, Calibration],
    identity: ModelIdentity,
    *,
    percentile: str = THRESHOLD_PERCENTILE,
    min_samples: int = MIN_SAMPLES,
) -> float | None:
    """The Seq-Logprob below which a sentence from `identity` is LOW_CONFIDENCE, or None:
    not calibrated (no entry, a demo model or entry, the identity engine, too few samples)."""
    if identity.demo or identity.engine == "identity":
        return None
    entry = calibration.get(identity.key)
    if entry is None or entry.identity.demo or entry.samples < min_samples:
        return None
    return entry.percentiles.get(percentile)


# -- reading and writing -------------------------------------------------------------------------


def load_calibration(path: Path) -> dict[str, Calibration]:
    """The entries of a calibration file, by `ModelIdentity.key`, validated."""
    models = read_models(path, VERSION, CalibrationError, "calibration file")
    return {key: _parse(key, value, f"{path}: models.{key}") for key, value in models.items()}


def load_server_calibration(path: Path | None, model_dir: Path) -> dict[str, Calibration]:
    """The calibration a server uses (the `calibration` setting): the file at `path` when one
    is set (CalibrationError when it is missing or bad), else `model_dir/calibration.json`
    when present, else none, and nothing is calibrated."""
    if path is not None:
        return load_calibration(path)
    default = calibration_path(model_dir)
    return load_calibration(default) if default.exists() else {}


def write_calibration(path: Path, entries: Iterable[Calibration]) -> None:
    """Write entries atomically, keyed by their identity."""
    models: dict[str, Any] = {}
    for entry in entries:
        _check_percentiles(entry.percentiles, f"{path}: models.{entry.identity.key}")
        item: dict[str, Any] = {
            "model": entry.identity.name,
            "commit": entry.identity.commit,
            "engine": entry.identity.engine,
            "compute_type": entry.identity.compute_type,
            "demo": entry.identity.demo,
            "samples": entry.samples,
            "percentiles": dict(entry.percentiles),
        }
        if entry.test_set is not None:
            item["test_set"] = entry.test_set
        models[entry.identity.key] = item
    write_models(path, VERSION, models)


_KNOWN = {"model", "commit", "engine", "compute_type", "demo", "samples", "percentiles", "test_set"}


def _parse(key: str, value: Any, where: str) -> Calibration:
    if not isinstance(value, dict):
        raise CalibrationError(f"{where} must be an object")
    unknown = set(value) - _KNOWN
    if unknown:
        raise CalibrationError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    strings = {}
    for name in ("model", "commit", "engine", "compute_type"):
        item = value.get(name)
        if not isinstance(item, str) or not item:
            raise CalibrationError(f"{where}: '{name}' must be a non-empty string")
        strings[name] = item
    if strings["engine"] not in ENGINES:
        raise CalibrationError(f"{where}: 'engine' must be one of {', '.join(ENGINES)}")
    demo = value.get("demo")
    if not isinstance(demo, bool):
        raise CalibrationError(f"{where}: 'demo' must be true or false")
    samples = value.get("samples")
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise CalibrationError(f"{where}: 'samples' must be an integer >= 1")
    test_set = value.get("test_set")
    if test_set is not None and not isinstance(test_set, str):
        raise CalibrationError(f"{where}: 'test_set' must be a string")
    raw = value.get("percentiles")
    if not isinstance(raw, dict):
        raise CalibrationError(f"{where}: 'percentiles' must be an object")
    values: dict[str, float] = {}
    for name, number in raw.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise CalibrationError(f"{where}: percentiles.{name} must be a number")
        values[name] = float(number)
    _check_percentiles(values, where)
    identity = ModelIdentity(
        strings["model"], strings["commit"], strings["engine"], strings["compute_type"], demo
    )
    if identity.key != key:
        raise CalibrationError(f"{where}: the key must be {identity.key!r}, from its fields")
    return Calibration(identity, samples, values, test_set)


def _check_percentiles(values: Mapping[str, float], where: str) -> None:
    ranked = []
    for name, number in values.items():
        match = _PERCENTILE.fullmatch(name)
        if match is None or not 0 < float(match.group(1)) < 100:
            raise CalibrationError(f"{where}: percentile names are p<number in (0, 100)>")
        if not math.isfinite(number):
            raise CalibrationError(f"{where}: percentiles.{name} must be finite")
        ranked.append((float(match.group(1)), number))
    if THRESHOLD_PERCENTILE not in values:
        raise CalibrationError(f"{where}: 'percentiles' must include {THRESHOLD_PERCENTILE}")
    ranked.sort()
    if any(b[1] < a[1] for a, b in itertools.pairwise(ranked)):
        raise CalibrationError(f"{where}: percentiles must not decrease as the percentile rises")
