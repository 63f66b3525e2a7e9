"""One model identity: one folder hasher for the lock, eval and the cache, and one identity per
loaded model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from newsmt.models.identity import files_digest, hash_files, identify, model_files


def folder(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return root


def test_the_files_digest_covers_names_sizes_and_contents(tmp_path: Path) -> None:
    def digest(name: str, files: dict[str, bytes]) -> str:
        return files_digest(hash_files(folder(tmp_path / name, files)))

    base = {"config.json": b"{}", "weights/model.bin": b"\x00\x01\x02"}
    reference = digest("a", base)
    assert len(reference) == 64
    assert digest("same", base) == reference
    assert digest("content", {**base, "config.json": b"[]"}) != reference
    assert digest("renamed", {"config2.json": b"{}", "weights/model.bin": b"\x00\x01\x02"}) != (
        reference
    )
    assert digest("added", {**base, "extra.txt": b""}) != reference
    # Bytes moved from one file into the next: the sizes keep the boundary.
    assert digest("moved", {"config.json": b"{}\x00", "weights/model.bin": b"\x01\x02"}) != (
        reference
    )
    with pytest.raises(NotADirectoryError):
        hash_files(tmp_path / "a" / "config.json")


def test_linked_files_are_followed_and_linked_folders_are_not(tmp_path: Path) -> None:
    outside = folder(tmp_path / "outside", {"secret.bin": b"x"})
    model = folder(tmp_path / "model", {"blob": b"weights"})
    os.symlink(model / "blob", model / "model.bin")  # a hub snapshot links files into blobs/
    os.symlink(outside, model / "elsewhere")
    assert [relative for relative, _ in model_files(model)] == ["blob", "model.bin"]
    [_, linked] = hash_files(model)
    assert (linked.path, linked.size) == ("model.bin", len(b"weights"))


def test_a_loaded_model_has_one_identity_for_calibration_and_cache(tmp_path: Path) -> None:
    snapshot = folder(tmp_path / "snapshots" / ("c" * 40), {"config.json": b"{}"})
    pulled = identify(
        "opus-mt-en-ru",
        "Helsinki-NLP/opus-mt-en-ru",
        snapshot,
        engine="ctranslate2",
        compute_type="int8",
        demo=False,
    )
    assert pulled.key == f"opus-mt-en-ru@{'c' * 40}/ctranslate2/int8"
    assert pulled.weights == f"hub:Helsinki-NLP/opus-mt-en-ru@{'c' * 40}"

    demo_files = folder(tmp_path / "demo", {"config.json": b"{}"})
    demo = identify("m", "r", demo_files, engine="transformers", compute_type="float32", demo=True)
    assert demo.commit == "demo" and demo.demo
    assert demo.weights == f"files:{files_digest(hash_files(demo_files))}"
    (demo_files / "config.json").write_bytes(b"[]")
    changed = identify(
        "m", "r", demo_files, engine="transformers", compute_type="float32", demo=True
    )
    assert changed.weights != demo.weights

    builtin = identify("m", "r", None, engine="identity", compute_type="", demo=False)
    assert (builtin.engine, builtin.weights) == ("identity", "builtin:identity")
