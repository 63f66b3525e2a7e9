"""Shared fixtures: tiny demo models built once per session, real servers on free ports.

Nothing here touches the network: HF_HUB_OFFLINE is forced on for the whole session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from newsmt.client import Client
from newsmt.models.registry import Registry
from newsmt.models.store import ModelStore
from newsmt.server.app import NewsmtServer, serving
from newsmt.server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def seed_text() -> str:
    return next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")


def build_tiny(model_dir: Path, names: list[str] | None = None) -> Path:
    store = ModelStore(model_dir)
    for name, spec in Registry.load().models.items():
        if names is None or name in names:
            store.ensure(spec, demo_size="tiny")
    return model_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny demo models for every registry entry (real tokenizer files, tiny random weights)."""
    return build_tiny(tmp_path_factory.mktemp("tiny-models"))


@contextmanager
def running_server(
    registry: Registry | None = None, **overrides: Any
) -> Iterator[tuple[NewsmtServer, str]]:
    settings = Settings.load(
        {"port": 0, "host": "127.0.0.1", "metrics_port": 0, "http_port": 0, **overrides},
        environ={},
    )
    with serving(settings, registry) as running:
        yield running


@pytest.fixture(scope="session")
def identity_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NewsmtServer, str]]:
    """Every model on the identity engine: exact, fast, no model files needed."""
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path_factory.mktemp("empty")) as running:
        yield running


@pytest.fixture(scope="session")
def tiny_server(tiny_model_dir: Path) -> Iterator[tuple[NewsmtServer, str]]:
    """Tiny demo models on the real transformers engine."""
    with running_server(model_dir=tiny_model_dir) as running:
        yield running


@pytest.fixture
def identity_client(identity_server: tuple[NewsmtServer, str]) -> Iterator[Client]:
    with Client(identity_server[1], timeout=60) as client:
        yield client


@pytest.fixture
def tiny_client(tiny_server: tuple[NewsmtServer, str]) -> Iterator[Client]:
    with Client(tiny_server[1], timeout=120) as client:
        yield client
