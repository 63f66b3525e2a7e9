"""The model registry: a TOML file that says which model serves which language pair."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from newsmt.core import languages

DEFAULT_REGISTRY = Path(__file__).with_name("registry.toml")

Task = Literal["translation", "summarization"]
Architecture = Literal["marian", "bart"]
EngineKind = Literal["auto", "ctranslate2", "transformers", "identity"]

_TASKS: tuple[Task, ...] = ("translation", "summarization")
_ARCHITECTURES: tuple[Architecture, ...] = ("marian", "bart")
_ENGINES: tuple[EngineKind, ...] = ("auto", "ctranslate2", "transformers", "identity")
_COMPUTE_TYPES = ("auto", "int8", "int8_float32", "float32", "float16", "int8_float16", "bfloat16")
_GENERATION_KEYS = frozenset(
    {
        "num_beams",
        "length_penalty",
        "no_repeat_ngram_size",
        "repetition_penalty",
        "min_length",
        "max_length",
    }
)


_Choice = TypeVar("_Choice", bound=str)


class RegistryError(ValueError):
    """The registry file is malformed. The message names the file and the key."""


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry."""

    name: str
    task: Task
    repo: str
    architecture: Architecture
    source: str
    target: str
    revision: str = "main"
    engine: EngineKind = "auto"
    compute_type: str = "auto"
    max_input_tokens: int = 512
    generation: dict[str, Any] = field(default_factory=dict)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.source, self.target)


@dataclass(frozen=True)
class Registry:
    models: dict[str, ModelSpec]
    path: Path | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> Registry:
        path = path or DEFAULT_REGISTRY
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RegistryError(f"registry file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise RegistryError(f"{path}: not valid TOML: {exc}") from None
        entries = data.get("models")
        if not isinstance(entries, dict) or not entries:
            raise RegistryError(f"{path}: needs at least one [models.NAME] table")
        models = {name: _parse_spec(path, name, entry) for name, entry in entries.items()}
        registry = cls(models=models, path=path)
        registry._check_unique_pairs()
        return registry

    def with_engine(self, engine: EngineKind) -> Registry:
        """The same registry with every model on `engine` (tests use "identity")."""
        return replace(self, models={n: replace(s, engine=engine) for n, s in self.models.items()})

    def translator(self, source: str, target: str) -> ModelSpec | None:
        for spec in self.models.values():
            if spec.task == "translation" and spec.pair == (source, target):
                return spec
        return None

    def summarizer(self) -> ModelSpec | None:
        for spec in self.models.values():
            if spec.task == "summarization":
                return spec
        return None

    def _check_unique_pairs(self) -> None:
        seen: dict[tuple[str, str, str], str] = {}
        for spec in self.models.values():
            key = (spec.task, spec.source, spec.target)
            if key in seen:
                raise RegistryError(
                    f"{self.path}: models {seen[key]!r} and {spec.name!r} both serve "
                    f"{spec.task} {spec.source}->{spec.target}"
                )
            seen[key] = spec.name


def _parse_spec(path: Path, name: str, entry: Any) -> ModelSpec:
    where = f"{path}: [models.{name}]"
    if not isinstance(entry, dict):
        raise RegistryError(f"{where} must be a table")

    def pick(key: str, default: str | None = None) -> str:
        value = entry.get(key, default)
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{where}: '{key}' is required and must be a string")
        return value

    def choose(key: str, allowed: tuple[_Choice, ...], default: str | None = None) -> _Choice:
        value = pick(key, default)
        for choice in allowed:
            if value == choice:
                return choice
        raise RegistryError(f"{where}: '{key}' must be one of {', '.join(allowed)}")

    task = choose("task", _TASKS)
    source = choose("source", languages.SUPPORTED)
    target = choose("target", languages.SUPPORTED)
    if task == "translation" and source == target:
        raise RegistryError(f"{where}: a translator needs source != target")
    if task == "summarization" and source != target:
        raise RegistryError(f"{where}: a summarizer summarizes in place: source == target")
    max_input_tokens = entry.get("max_input_tokens", 512)
    if not isinstance(max_input_tokens, int) or max_input_tokens < 16:
        raise RegistryError(f"{where}: 'max_input_tokens' must be an integer >= 16")
    generation = entry.get("generation", {})
    if not isinstance(generation, dict) or not set(generation) <= _GENERATION_KEYS:
        raise RegistryError(
            f"{where}: [generation] may only set {', '.join(sorted(_GENERATION_KEYS))}"
        )
    unknown = set(entry) - {
        "task",
        "repo",
        "revision",
        "architecture",
        "source",
        "target",
        "engine",
        "compute_type",
        "max_input_tokens",
        "generation",
    }
    if unknown:
        raise RegistryError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    return ModelSpec(
        name=name,
        task=task,
        repo=pick("repo"),
        revision=pick("revision", default="main"),
        architecture=choose("architecture", _ARCHITECTURES),
        source=source,
        target=target,
        engine=choose("engine", _ENGINES, default="auto"),
        compute_type=choose("compute_type", _COMPUTE_TYPES, default="auto"),
        max_input_tokens=max_input_tokens,
        generation=dict(generation),
    )


def resolve_compute_type(spec: ModelSpec, device: str) -> str:
    """The registry's compute type, with "auto" = int8 on CPU, int8_float16 on CUDA."""
    if spec.compute_type != "auto":
        return spec.compute_type
    return "int8_float16" if device == "cuda" else "int8"
