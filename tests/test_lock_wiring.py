"""The model lock, wired in: `newsmt models pull` writes it (against a local fake hub, no
network), the server refuses a model whose files differ from it, `newsmt models verify` finds a
changed byte, and `pull --pin` writes a registry copy with the resolved commit."""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import huggingface_hub
import pytest

from newsmt.cli.main import main
from newsmt.engines.base import EngineOptions
from newsmt.models.demo import DEMO_MARKER
from newsmt.models.lock import lock_path, read_lock
from newsmt.models.pin import PinError, pin_registry
from newsmt.models.pool import ModelPool, ModelState
from newsmt.models.registry import DEFAULT_REGISTRY, Registry
from newsmt.models.store import ModelStore

from .conftest import build_tiny

NAME = "opus-mt-en-ru"
REPO = "Helsinki-NLP/opus-mt-en-ru"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake hub: one repo whose files are a tiny demo model's (loadable), marker removed."""
    built = build_tiny(tmp_path_factory.mktemp("tiny"), [NAME])
    root = tmp_path_factory.mktemp("hub")
    repo = root / REPO
    shutil.copytree(built / "demo" / NAME, repo)
    (repo / DEMO_MARKER).unlink()
    return root


@pytest.fixture
def fake_hub(hub: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`huggingface_hub` as `ModelStore.pull` uses it, served from `hub`: downloads copy files
    into the cache layout (blobs named by hash, a snapshot folder of links, refs/<revision>)."""
    real_download = huggingface_hub.snapshot_download

    def model_info(self: Any, repo_id: str, revision: str | None = None, **_: Any) -> Any:
        files = [p.relative_to(hub / repo_id).as_posix() for p in (hub / repo_id).rglob("*")]
        return SimpleNamespace(sha=COMMIT, siblings=[SimpleNamespace(rfilename=f) for f in files])

    def snapshot_download(repo_id: str, **kw: Any) -> str:
        if kw.get("local_files_only"):
            return str(real_download(repo_id, **kw))
        base = Path(kw["cache_dir"]) / ("models--" + repo_id.replace("/", "--"))
        snapshot = base / "snapshots" / COMMIT
        for source in sorted((hub / repo_id).rglob("*")):
            name = source.relative_to(hub / repo_id).as_posix()
            patterns = kw.get("allow_patterns") or ["*"]
            if not source.is_file() or not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            blob = base / "blobs" / hashlib.sha256(source.read_bytes()).hexdigest()
            blob.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, blob)
            link = snapshot / name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path("../" * len(Path(name).parts)) / ".." / "blobs" / blob.name)
        (base / "refs").mkdir(parents=True, exist_ok=True)
        (base / "refs" / kw.get("revision", "main")).write_text(COMMIT)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # read by ModelStore.pull; nothing goes out
    yield hub


def pull(model_dir: Path, *extra: str) -> int:
    return main(["models", "pull", NAME, "--model-dir", str(model_dir), *extra])


def registry_for(model_dir: Path) -> Registry:
    return Registry(models={NAME: Registry.load().models[NAME]})


def test_pull_writes_the_lock_and_a_matching_model_loads(
    fake_hub: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pull(tmp_path) == 0
    assert f"commit {COMMIT}" in capsys.readouterr().out
    entry = read_lock(lock_path(tmp_path))[NAME]
    assert (entry.repo, entry.revision, entry.commit) == (REPO, "main", COMMIT)
    hub_files = {p.relative_to(fake_hub / REPO).as_posix() for p in (fake_hub / REPO).rglob("*")}
    assert {f.path for f in entry.files} == {f for f in hub_files if not f.endswith(".bin")}
    config = next(f for f in entry.files if f.path == "config.json")
    assert (
        config.sha256 == hashlib.sha256((fake_hub / REPO / "config.json").read_bytes()).hexdigest()
    )

    pool = ModelPool(registry_for(tmp_path), ModelStore(tmp_path), engine_options=EngineOptions())
    served = pool.load(NAME)
    assert served.state is ModelState.READY, served.detail
    assert not served.demo
    pool.close()


def test_a_changed_size_makes_the_model_failed(fake_hub: Path, tmp_path: Path) -> None:
    assert pull(tmp_path) == 0
    snapshot = ModelStore(tmp_path).locate(Registry.load().models[NAME])
    assert snapshot is not None and not snapshot.demo
    vocab = (snapshot.path / "vocab.json").resolve()
    vocab.write_bytes(vocab.read_bytes() + b" ")
    pool = ModelPool(registry_for(tmp_path), ModelStore(tmp_path))
    served = pool.load(NAME)
    assert served.state is ModelState.FAILED
    assert "vocab.json is" in served.detail and "newsmt.lock" in served.detail
    assert "models verify" in served.detail
    assert served.engine is None


def test_an_unreadable_lock_fails_the_model_and_no_entry_skips_the_check(
    fake_hub: Path, tmp_path: Path
) -> None:
    assert pull(tmp_path) == 0
    lock_path(tmp_path).write_text("{not json")
    pool = ModelPool(registry_for(tmp_path), ModelStore(tmp_path))
    served = pool.load(NAME)
    assert served.state is ModelState.FAILED
    assert "the model lock cannot be read" in served.detail
    lock_path(tmp_path).unlink()
    assert (
        ModelStore(tmp_path).lock_problems(
            ModelStore(tmp_path).locate(Registry.load().models[NAME])  # type: ignore[arg-type]
        )
        is None
    )


def test_verify_reports_a_same_size_byte_flip(
    fake_hub: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pull(tmp_path) == 0
    capsys.readouterr()
    assert main(["models", "verify", "--model-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{NAME}: ok" in out
    assert "no lock entry" in out and "opus-mt-ru-en" in out  # the other four are not pulled

    spec = Registry.load().models[NAME]
    local = ModelStore(tmp_path).locate(spec)
    assert local is not None
    blob = (local.path / "config.json").resolve()
    data = bytearray(blob.read_bytes())
    data[0] ^= 0x01
    blob.write_bytes(bytes(data))
    # Sizes match, so the server would load it; only the hash tells.
    assert ModelStore(tmp_path).lock_problems(local) == []
    assert main(["models", "verify", NAME, "--model-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert f"{NAME}: config.json has sha256" in captured.out
    assert "differ from" in captured.err


def test_verify_fails_when_locked_files_are_gone(
    fake_hub: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pull(tmp_path) == 0
    shutil.rmtree(tmp_path / ("models--" + REPO.replace("/", "--")))
    assert main(["models", "verify", NAME, "--model-dir", str(tmp_path)]) == 1
    assert "no pulled files" in capsys.readouterr().out


def test_pull_pin_writes_the_resolved_commit(fake_hub: Path, tmp_path: Path) -> None:
    out = tmp_path / "pinned.toml"
    assert pull(tmp_path / "models", "--pin", "--pin-out", str(out)) == 0
    text = out.read_text()
    assert text.startswith("# The newsmt model registry")  # comments kept
    pinned = Registry.load(out)
    assert pinned.models[NAME].revision == COMMIT
    original = Registry.load()
    for name, spec in original.models.items():
        if name != NAME:
            assert pinned.models[name] == spec
    # Only the revision line changed.
    before = DEFAULT_REGISTRY.read_text().splitlines()
    after = text.splitlines()
    assert len(before) == len(after)
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == [
        ('revision = "main"', f'revision = "{COMMIT}"')
    ]


def test_pin_registry_adds_a_missing_revision_and_keeps_subtables() -> None:
    text = (
        '# top\n[models.a]\nrepo = "o/a" # the repo\ntask = "translation"\n'
        '[models.a.generation]\nnum_beams = 2\n\n[models."b"]\nrepo = "o/b"\n'
        'revision = "v1"\n'
    )
    sha_a, sha_b = "a" * 40, "b" * 40
    pinned = pin_registry(text, {"a": sha_a, "b": sha_b})
    data = tomllib.loads(pinned)
    assert data["models"]["a"]["revision"] == sha_a
    assert data["models"]["a"]["generation"] == {"num_beams": 2}
    assert data["models"]["b"]["revision"] == sha_b
    assert pinned.splitlines()[3] == f'revision = "{sha_a}"'  # right after repo
    assert "# top" in pinned and "# the repo" in pinned
    with pytest.raises(PinError, match="not a 40-digit"):
        pin_registry(text, {"a": "main"})
    with pytest.raises(PinError, match=r"models\.c: no such table"):
        pin_registry(text, {"c": sha_a})


def test_the_builtin_registry_pins_distilbart_only() -> None:
    revisions = {name: spec.revision for name, spec in Registry.load().models.items()}
    assert revisions.pop("distilbart-cnn-12-6") == "a4f8f3ea906ed274767e9906dbaede7531d660ff"
    assert set(revisions.values()) == {"main"}
