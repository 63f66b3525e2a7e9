"""The envelope the model lock and calibration files share: `{"version": N, "models": {...}}`,
read with errors that name the file and the key, and written atomically (a temporary file in
the same folder, then a rename, so a crash never leaves half a file)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read_models(path: Path, version: int, error: type[ValueError], what: str) -> dict[str, Any]:
    """The `models` object of a versioned JSON file (`what`: "lock file", ...); `error` (a
    ValueError subclass) on a missing file, bad JSON, another version or a bad envelope."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("version") != version:
        raise error(f"{path}: 'version' must be {version}")
    models = data.get("models")
    if not isinstance(models, dict):
        raise error(f"{path}: 'models' must be an object")
    return models


def write_models(path: Path, version: int, models: dict[str, Any]) -> None:
    """Write `{"version": version, "models": models}` atomically, keys sorted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": version, "models": models}, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
