"""Where model files live on disk, and how they get there.

Layout under the model directory (default ``./models``, or NEWSMT_MODEL_DIR):

    models--Helsinki-NLP--opus-mt-en-ru/...   real weights, in the Hugging Face cache layout
                                              (`newsmt models pull`), so HF tools share them
    demo/<name>/                              random-weight demo models (`newsmt models make-demo`)
    ct2/<name>-<source>-<compute_type>/        CTranslate2 conversions (`newsmt models convert`)
    newsmt.lock                               what `pull` fetched: commit, file sizes, sha256

Real weights always win over demo weights. Nothing here downloads unless `pull` is called:
the server only ever reads. A pulled model with a lock entry is checked against it when it is
located for loading (`lock_problems`: sizes only; `newsmt models verify` hashes).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from newsmt.models.demo import is_demo_model, make_demo_model
from newsmt.models.lock import (
    LockEntry,
    check_sizes,
    hash_model_dir,
    lock_path,
    read_lock,
    write_lock,
)
from newsmt.models.registry import ModelSpec, resolve_compute_type

DemoSize = Literal["full", "tiny"]

log = logging.getLogger(__name__)

#: Files a model needs to load: configs, tokenizer files, weights. Never pickled code.
_ALLOW_PATTERNS = ["*.json", "*.spm", "*.txt", "*.model", "*.safetensors"]
_PICKLE_WEIGHTS = "pytorch_model.bin"

PULL_HINT = "run `newsmt models pull` (real weights) or `newsmt models make-demo` (demo weights)"


@dataclass(frozen=True)
class LocalModel:
    """A model found on disk."""

    spec: ModelSpec
    path: Path
    demo: bool


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- locating --------------------------------------------------------------------------

    def locate(self, spec: ModelSpec) -> LocalModel | None:
        """The model's files on disk: real weights if pulled, else a demo model, else None."""
        real = self._cached_snapshot(spec)
        if real is not None:
            return LocalModel(spec, real, demo=False)
        demo = self.demo_path(spec)
        if is_demo_model(demo):
            return LocalModel(spec, demo, demo=True)
        return None

    def demo_path(self, spec: ModelSpec) -> Path:
        return self.root / "demo" / spec.name

    def ct2_path(self, model: LocalModel, compute_type: str) -> Path:
        kind = "demo" if model.demo else model.path.name[:12]
        return self.root / "ct2" / f"{model.spec.name}-{kind}-{compute_type}"

    def _cached_snapshot(self, spec: ModelSpec) -> Path | None:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            found = snapshot_download(
                spec.repo,
                revision=spec.revision,
                cache_dir=self.root,
                local_files_only=True,
                allow_patterns=[*_ALLOW_PATTERNS, _PICKLE_WEIGHTS],
            )
        except (LocalEntryNotFoundError, FileNotFoundError, OSError):
            return None
        path = Path(found)
        return path if (path / "config.json").exists() else None

    # -- getting ---------------------------------------------------------------------------

    def ensure(
        self,
        spec: ModelSpec,
        *,
        demo_size: DemoSize = "full",
        compute_types: Sequence[str] = (),
        exact_size: bool = False,
    ) -> LocalModel:
        """The model on disk, ready to load: real weights when pulled, else a demo model,
        built here if missing (or, with `exact_size`, if the demo on disk has another size),
        with a CTranslate2 conversion for each of `compute_types` that is not there yet.
        Nothing is downloaded; existing files are reused."""
        local = self.locate(spec)
        if local is None or (exact_size and local.demo and self.demo_size(spec) != demo_size):
            self.make_demo(spec, size=demo_size)
            local = self.locate(spec)
            if local is None:  # pragma: no cover - make_demo writes the marker locate reads
                raise RuntimeError(f"{spec.name}: the demo model was built but is not found")
        for compute_type in compute_types:
            if not self.is_converted(local, compute_type):
                log.info("converting %s to CTranslate2 %s", spec.name, compute_type)
                self.convert(local, compute_type)
        return local

    def pull(self, spec: ModelSpec) -> Path:
        """Download the model's files from the hub into the cache layout.

        Prefers safetensors; falls back to ``pytorch_model.bin``, which transformers then loads
        with torch's weights-only unpickler. Respects HF_HUB_OFFLINE and HF_ENDPOINT.
        """
        from huggingface_hub import HfApi, snapshot_download

        if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
            raise RuntimeError(
                f"cannot pull {spec.repo}: HF_HUB_OFFLINE is set. Unset it, or copy the model "
                f"into {self.root} in the Hugging Face cache layout"
            )
        files = {
            s.rfilename
            for s in HfApi().model_info(spec.repo, revision=spec.revision).siblings or []
        }
        patterns = list(_ALLOW_PATTERNS)
        if not any(f.endswith(".safetensors") for f in files):
            if _PICKLE_WEIGHTS not in files:
                raise RuntimeError(
                    f"{spec.repo}@{spec.revision} has no safetensors or {_PICKLE_WEIGHTS}"
                )
            patterns.append(_PICKLE_WEIGHTS)
        path = snapshot_download(
            spec.repo, revision=spec.revision, cache_dir=self.root, allow_patterns=patterns
        )
        log.info("pulled %s@%s into %s", spec.repo, spec.revision, path)
        return Path(path)

    # -- the lock --------------------------------------------------------------------------

    @property
    def lock_file(self) -> Path:
        return lock_path(self.root)

    def read_lock(self) -> dict[str, LockEntry]:
        """The lock's entries; none when there is no lock file (LockError when it is bad)."""
        if not self.lock_file.exists():
            return {}
        return read_lock(self.lock_file)

    def lock_entry(self, spec: ModelSpec, path: Path) -> LockEntry:
        """The lock entry of a pulled snapshot: its folder name is the commit it resolved to."""
        return hash_model_dir(path, repo=spec.repo, revision=spec.revision, commit=path.name)

    def record(self, entries: dict[str, LockEntry]) -> Path:
        """Merge `entries` (by registry name) into the lock file; the others are kept."""
        merged = {**self.read_lock(), **entries}
        write_lock(self.lock_file, merged)
        return self.lock_file

    def lock_problems(self, model: LocalModel) -> list[str] | None:
        """How a located model differs from its lock entry, by size (no file is read): None
        when there is nothing to check (a demo model, or no lock entry), else the problems
        (empty when it matches). They name files and sizes, never content."""
        if model.demo:
            return None
        entry = self.read_lock().get(model.spec.name)
        if entry is None:
            return None
        problems = []
        if entry.repo != model.spec.repo:
            problems.append(
                f"the lock pins repo {entry.repo}, the registry asks for {model.spec.repo}"
            )
        return problems + check_sizes(model.path, entry)

    def convert(self, model: LocalModel, compute_type: str) -> Path:
        """Convert a located model to CTranslate2 with `compute_type` quantization."""
        from newsmt.models.convert import convert

        return convert(model.path, self.ct2_path(model, compute_type), compute_type)

    def is_converted(self, model: LocalModel, compute_type: str) -> bool:
        return (self.ct2_path(model, compute_type) / "model.bin").exists()

    def make_demo(self, spec: ModelSpec, size: DemoSize = "full") -> Path:
        """Build (or rebuild) the demo model for `spec`."""
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        log.info("building %s demo model for %s (random weights)", size, spec.name)
        return make_demo_model(
            spec.architecture,
            self.demo_path(spec),
            mirrors=spec.repo,
            source_language=spec.source,
            target_language=spec.target,
            size=size,
        )

    def demo_size(self, spec: ModelSpec) -> str | None:
        """The size of the demo model on disk, or None."""
        import json

        marker = self.demo_path(spec) / "newsmt-demo.json"
        if not marker.exists():
            return None
        return str(json.loads(marker.read_text()).get("size"))


def serving_compute_types(spec: ModelSpec, device: str) -> tuple[str, ...]:
    """The CTranslate2 conversion the server loads for `spec` on `device`: one for the
    "auto" and "ctranslate2" engines, none for "transformers" and "identity"."""
    if spec.engine in {"auto", "ctranslate2"}:
        return (resolve_compute_type(spec, device),)
    return ()
