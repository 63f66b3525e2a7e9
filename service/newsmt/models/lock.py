"""The model lock file, `models/newsmt.lock`: exactly which files each pulled model is.

`newsmt models pull` resolves each registry revision (a branch such as `main`, or a commit) to a
commit SHA and records every file of the downloaded snapshot with its size and sha256. The server
checks the sizes when it loads a model (`check_sizes`: cheap, a `stat` per file); `newsmt models
verify` checks the hashes (`verify_hashes`: reads every byte). A model whose files differ from
its lock entry must not be served as if it were the pinned one.

The file is JSON (the standard library reads and writes it; TOML would need a writer), sorted and
indented so that diffs stay readable:

    {
      "version": 1,
      "models": {
        "opus-mt-en-ru": {
          "repo": "Helsinki-NLP/opus-mt-en-ru",
          "revision": "main",                      # what the registry asked for
          "commit": "<40 hex digits>",             # what it resolved to
          "files": [
            {"path": "config.json", "size": 1394, "sha256": "<64 hex digits>"},
            ...
          ]
        }
      }
    }

`path` is relative to the model's folder: the Hugging Face cache snapshot
`models--<org>--<name>/snapshots/<commit>/` under the model directory (see `store.py`), where the
files are symbolic links into `blobs/`; sizes and hashes are those of the link targets. Problems
name files and sizes, never file content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from newsmt.models.identity import COMMIT, FileHash, hash_files, model_files, sha256_file
from newsmt.models.jsonfile import read_models, write_models

LOCK_NAME = "newsmt.lock"
VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


class LockError(ValueError):
    """The lock file is missing, malformed, or a model folder cannot be hashed. The message
    names the file and the key."""


#: A file as the lock records it.
LockedFile = FileHash


@dataclass(frozen=True)
class LockEntry:
    """One model as pulled: its repo, the revision asked for, the commit it resolved to, and
    every file of the snapshot, sorted by path."""

    repo: str
    revision: str
    commit: str
    files: tuple[LockedFile, ...]


def lock_path(model_dir: Path) -> Path:
    """Where the lock lives for a model directory (`models/newsmt.lock`)."""
    return model_dir / LOCK_NAME


def hash_model_dir(model_dir: Path, *, repo: str, revision: str, commit: str) -> LockEntry:
    """The lock entry of a model folder: every regular file under it (links followed), with
    its size and sha256."""
    if not model_dir.is_dir():
        raise LockError(f"{model_dir}: not a folder")
    files = hash_files(model_dir)
    if not files:
        raise LockError(f"{model_dir}: no files to lock")
    entry = LockEntry(repo=repo, revision=revision, commit=commit, files=files)
    _check_entry(entry, f"{model_dir}")
    return entry


def check_sizes(model_dir: Path, entry: LockEntry) -> list[str]:
    """What differs from the lock without reading the files: a snapshot folder of another
    commit, missing files, files of another size, files the lock does not list."""
    problems = []
    if model_dir.parent.name == "snapshots" and model_dir.name != entry.commit:
        problems.append(f"the folder is snapshot {model_dir.name}, the lock pins {entry.commit}")
    for locked in entry.files:
        path = model_dir / locked.path
        if not path.is_file():
            problems.append(f"{locked.path} is missing")
            continue
        size = path.stat().st_size
        if size != locked.size:
            problems.append(f"{locked.path} is {size} bytes, the lock says {locked.size}")
    listed = {locked.path for locked in entry.files}
    if model_dir.is_dir():
        for relative, _ in model_files(model_dir):
            if relative not in listed:
                problems.append(f"{relative} is not in the lock")
    return problems


def verify_hashes(model_dir: Path, entry: LockEntry) -> list[str]:
    """`check_sizes`, then the sha256 of every file whose size matches."""
    problems = check_sizes(model_dir, entry)
    for locked in entry.files:
        path = model_dir / locked.path
        if not path.is_file() or path.stat().st_size != locked.size:
            continue  # already reported
        digest = sha256_file(path)
        if digest != locked.sha256:
            problems.append(f"{locked.path} has sha256 {digest}, the lock says {locked.sha256}")
    return problems


# -- reading and writing -------------------------------------------------------------------------


def write_lock(path: Path, entries: Mapping[str, LockEntry]) -> None:
    """Write the lock atomically (a temporary file in the same folder, then a rename)."""
    for name, entry in entries.items():
        _check_entry(entry, f"{path}: models.{name}")
    models = {
        name: {
            "repo": entry.repo,
            "revision": entry.revision,
            "commit": entry.commit,
            "files": [
                {"path": f.path, "size": f.size, "sha256": f.sha256}
                for f in sorted(entry.files, key=lambda f: f.path)
            ],
        }
        for name, entry in sorted(entries.items())
    }
    write_models(path, VERSION, models)


def read_lock(path: Path) -> dict[str, LockEntry]:
    """The entries of a lock file, validated."""
    models = read_models(path, VERSION, LockError, "lock file")
    return {name: _parse_entry(value, f"{path}: models.{name}") for name, value in models.items()}


def _parse_entry(value: Any, where: str) -> LockEntry:
    if not isinstance(value, dict):
        raise LockError(f"{where} must be an object")
    strings = {}
    for key in ("repo", "revision", "commit"):
        item = value.get(key)
        if not isinstance(item, str) or not item:
            raise LockError(f"{where}: '{key}' must be a non-empty string")
        strings[key] = item
    raw_files = value.get("files")
    if not isinstance(raw_files, list) or not raw_files:
        raise LockError(f"{where}: 'files' must be a non-empty list")
    files = []
    for i, item in enumerate(raw_files):
        at = f"{where}.files[{i}]"
        if not isinstance(item, dict):
            raise LockError(f"{at} must be an object")
        name, size, digest = item.get("path"), item.get("size"), item.get("sha256")
        if not isinstance(name, str) or not isinstance(digest, str):
            raise LockError(f"{at}: 'path' and 'sha256' must be strings")
        if not isinstance(size, int) or isinstance(size, bool):
            raise LockError(f"{at}: 'size' must be an integer")
        files.append(LockedFile(name, size, digest))
    entry = LockEntry(strings["repo"], strings["revision"], strings["commit"], tuple(files))
    _check_entry(entry, where)
    return entry


def _check_entry(entry: LockEntry, where: str) -> None:
    if not COMMIT.fullmatch(entry.commit):
        raise LockError(f"{where}: 'commit' must be 40 lower-case hex digits")
    seen = set()
    for i, f in enumerate(entry.files):
        at = f"{where}.files[{i}]"
        pure = PurePosixPath(f.path)
        if not f.path or pure.is_absolute() or ".." in pure.parts or "\\" in f.path:
            raise LockError(f"{at}: 'path' must be relative, inside the model folder")
        if f.path in seen:
            raise LockError(f"{at}: 'path' {f.path!r} is listed twice")
        seen.add(f.path)
        if f.size < 0:
            raise LockError(f"{at}: 'size' must be >= 0")
        if not _SHA256.fullmatch(f.sha256):
            raise LockError(f"{at}: 'sha256' must be 64 lower-case hex digits")
