"""Which weights a model is: the one folder hasher, and the one identity of a loaded model.

`hash_files(folder)` lists every regular file under a model folder with its size and sha256,
sorted by relative path. The lock file records that list for a pulled snapshot (`lock.py`),
`newsmt eval` reports it for the models it scored, and a demo or local model, which has no
commit to name it, is identified by a digest of it (`files_digest`).

A `ModelIdentity` is what a loaded model is: its registry name, its weights (the resolved commit
of a pulled snapshot, "demo", or "identity"), the engine and its compute type. Calibrations are
keyed by `key`; the translation cache keys these weights by `weights`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20

#: A resolved commit: 40 lower-case hex digits (the lock file and pinned registries hold them).
COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class FileHash:
    """One file of a model folder: its path relative to the folder (POSIX), size and sha256."""

    path: str
    size: int
    sha256: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_files(folder: Path) -> list[tuple[str, Path]]:
    """Every regular file under `folder` as (relative POSIX path, path), sorted by the relative
    path. Symlinked files (the hub cache's snapshots) are followed; symlinked folders are not,
    so that a link can never pull files from outside the model into it."""
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file():
                found.append((path.relative_to(folder).as_posix(), path))
    found.sort()
    return found


def hash_files(folder: Path) -> tuple[FileHash, ...]:
    """Every regular file under `folder` (`model_files`) with its size and sha256. Reads every
    byte: call it when a model is pulled, loaded or evaluated, never per request."""
    return tuple(
        FileHash(relative, path.stat().st_size, sha256_file(path))
        for relative, path in model_files(folder)
    )


def files_digest(files: tuple[FileHash, ...]) -> str:
    """One SHA-256 over a folder's file list: every path, size and content hash, so that a
    renamed, added, removed or changed file changes it."""
    record = json.dumps(
        ["newsmt-model-files", 1, [[f.path, f.size, f.sha256] for f in files]],
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(record.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ModelIdentity:
    """These weights, on this engine, at this compute type."""

    #: Registry name ("opus-mt-en-ru").
    name: str
    #: The resolved commit of a pulled snapshot; "demo" for demo weights; "identity" for the
    #: identity engine (no weights).
    commit: str
    engine: str
    #: "int8", "float32", ...; "" where the engine has none.
    compute_type: str
    demo: bool = False
    #: What the translation cache keys these weights by: "hub:<repo>@<commit>" for a pulled
    #: snapshot, "files:<files_digest>" for demo and local weights, "builtin:identity" for the
    #: identity engine. "" where nobody needs it (a calibration read from its file).
    weights: str = ""

    @property
    def key(self) -> str:
        """What a calibration is keyed by (calibration.json)."""
        return f"{self.name}@{self.commit}/{self.engine}/{self.compute_type}"


def identify(
    name: str,
    repo: str,
    folder: Path | None,
    *,
    engine: str,
    compute_type: str,
    demo: bool,
) -> ModelIdentity:
    """The identity of a model loaded from `folder` (None: the identity engine). A pulled
    snapshot is named by its folder, the resolved commit; a demo model by a digest of its files
    (read once, here)."""
    if folder is None or engine == "identity":
        return ModelIdentity(name, "identity", "identity", "", demo, "builtin:identity")
    if demo:
        weights = f"files:{files_digest(hash_files(folder))}"
        return ModelIdentity(name, "demo", engine, compute_type, True, weights)
    return ModelIdentity(
        name, folder.name, engine, compute_type, False, f"hub:{repo}@{folder.name}"
    )
