"""The model lock: hashing a snapshot in the Hugging Face cache layout, writing and reading the
lock, and what a changed file looks like to `check_sizes` and `verify_hashes`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from newsmt.models.lock import (
    LockEntry,
    LockError,
    check_sizes,
    hash_model_dir,
    lock_path,
    read_lock,
    verify_hashes,
    write_lock,
)

COMMIT = "a4f8f3ea906ed274767e9906dbaede7531d660ff"
FILES = {
    "config.json": b'{"model_type": "marian"}',
    "model.safetensors": b"WEIGHTS-" * 64,
    "tokenizer/vocab.json": b'{"<pad>": 0}',
}


def fake_snapshot(root: Path, repo: str = "Helsinki-NLP/opus-mt-en-ru") -> Path:
    """A model as `huggingface_hub` lays it out: files in blobs/, named by their hash, and a
    snapshot folder of symbolic links to them."""
    base = root / ("models--" + repo.replace("/", "--"))
    snapshot = base / "snapshots" / COMMIT
    for name, content in FILES.items():
        blob = base / "blobs" / hashlib.sha256(content).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../" * (len(Path(name).parts) + 1)) / "blobs" / blob.name)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(COMMIT)
    return snapshot


def blob_of(snapshot: Path, name: str) -> Path:
    return (snapshot / name).resolve()


@pytest.fixture
def locked(tmp_path: Path) -> tuple[Path, LockEntry]:
    snapshot = fake_snapshot(tmp_path / "models")
    entry = hash_model_dir(
        snapshot, repo="Helsinki-NLP/opus-mt-en-ru", revision="main", commit=COMMIT
    )
    return snapshot, entry


def test_hash_write_read_round_trip(locked: tuple[Path, LockEntry], tmp_path: Path) -> None:
    snapshot, entry = locked
    assert [f.path for f in entry.files] == sorted(FILES)
    for f in entry.files:
        assert f.size == len(FILES[f.path])
        assert f.sha256 == hashlib.sha256(FILES[f.path]).hexdigest()
    path = lock_path(tmp_path / "models")
    assert path == tmp_path / "models" / "newsmt.lock"
    write_lock(path, {"opus-mt-en-ru": entry})
    assert read_lock(path) == {"opus-mt-en-ru": entry}
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["models"]["opus-mt-en-ru"]["commit"] == COMMIT
    assert not list(path.parent.glob(".newsmt.lock.*"))  # no staging file left
    assert check_sizes(snapshot, entry) == []
    assert verify_hashes(snapshot, entry) == []


def test_a_changed_size_is_found_without_hashing(locked: tuple[Path, LockEntry]) -> None:
    snapshot, entry = locked
    with blob_of(snapshot, "model.safetensors").open("ab") as handle:
        handle.write(b"X")
    problems = check_sizes(snapshot, entry)
    assert problems == ["model.safetensors is 513 bytes, the lock says 512"]
    assert verify_hashes(snapshot, entry) == problems  # not hashed twice, not reported twice


def test_a_changed_byte_of_the_same_size_needs_the_hashes(
    locked: tuple[Path, LockEntry],
) -> None:
    snapshot, entry = locked
    blob = blob_of(snapshot, "model.safetensors")
    content = bytearray(blob.read_bytes())
    content[100] ^= 0xFF
    blob.write_bytes(bytes(content))
    assert check_sizes(snapshot, entry) == []
    [problem] = verify_hashes(snapshot, entry)
    assert problem.startswith("model.safetensors has sha256 ")
    assert hashlib.sha256(content).hexdigest() in problem
    assert "WEIGHTS" not in problem  # names and digests, never content


def test_missing_extra_and_other_commit(locked: tuple[Path, LockEntry], tmp_path: Path) -> None:
    snapshot, entry = locked
    (snapshot / "tokenizer" / "vocab.json").unlink()
    (snapshot / "pytorch_model.bin").write_bytes(b"other weights")
    assert check_sizes(snapshot, entry) == [
        "tokenizer/vocab.json is missing",
        "pytorch_model.bin is not in the lock",
    ]
    other = snapshot.parent / ("0" * 40)
    snapshot.rename(other)
    assert (
        check_sizes(other, entry)[0] == f"the folder is snapshot {'0' * 40}, the lock pins {COMMIT}"
    )
    assert check_sizes(tmp_path / "nowhere", entry) == [
        f"{name} is missing" for name in sorted(FILES)
    ]


def test_a_dangling_link_is_missing(locked: tuple[Path, LockEntry]) -> None:
    snapshot, entry = locked
    blob_of(snapshot, "config.json").unlink()
    assert check_sizes(snapshot, entry) == ["config.json is missing"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(version=2), "'version' must be 1"),
        (lambda d: d.update(models=[]), "'models' must be an object"),
        (lambda d: d["models"]["m"].update(commit="main"), "models.m: 'commit' must be 40"),
        (lambda d: d["models"]["m"].pop("repo"), "models.m: 'repo' must be"),
        (lambda d: d["models"]["m"].update(files=[]), "'files' must be a non-empty list"),
        (
            lambda d: d["models"]["m"]["files"][0].update(path="../../etc/passwd"),
            r"models.m.files\[0\]: 'path' must be relative",
        ),
        (
            lambda d: d["models"]["m"]["files"][0].update(path="/etc/passwd"),
            "must be relative",
        ),
        (lambda d: d["models"]["m"]["files"][1].update(size="12"), "'size' must be an integer"),
        (lambda d: d["models"]["m"]["files"][1].update(size=-1), "'size' must be >= 0"),
        (lambda d: d["models"]["m"]["files"][0].update(sha256="abc"), "'sha256' must be 64"),
        (
            lambda d: d["models"]["m"]["files"].append(dict(d["models"]["m"]["files"][0])),
            "listed twice",
        ),
    ],
)
def test_a_malformed_lock_is_refused(
    locked: tuple[Path, LockEntry], tmp_path: Path, edit: object, message: str
) -> None:
    _, entry = locked
    path = tmp_path / "newsmt.lock"
    write_lock(path, {"m": entry})
    data = json.loads(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))
    with pytest.raises(LockError, match=message):
        read_lock(path)


def test_unreadable_lock_files(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="lock file not found"):
        read_lock(tmp_path / "newsmt.lock")
    bad = tmp_path / "bad.lock"
    bad.write_text("{not json")
    with pytest.raises(LockError, match="not valid JSON"):
        read_lock(bad)
    with pytest.raises(LockError, match="not a folder"):
        hash_model_dir(tmp_path / "none", repo="r", revision="main", commit=COMMIT)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LockError, match="no files"):
        hash_model_dir(tmp_path / "empty", repo="r", revision="main", commit=COMMIT)
