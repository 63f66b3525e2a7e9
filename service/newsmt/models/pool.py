"""The models this process serves: what is loaded, what is missing, and why."""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from newsmt.core.context import RequestContext
from newsmt.core.errors import ModelUnavailable, ServiceUnavailable
from newsmt.engines.base import Engine, EngineOptions, Generated, GenerationSettings
from newsmt.models.calibration import Calibration, low_confidence_threshold
from newsmt.models.factory import create_engine
from newsmt.models.identity import ModelIdentity, identify
from newsmt.models.lock import LockError
from newsmt.models.registry import ModelSpec, Registry, resolve_compute_type
from newsmt.models.store import PULL_HINT, LocalModel, ModelStore
from newsmt.scheduler.batcher import Batcher, BatcherConfig, BatchObserver

log = logging.getLogger(__name__)


class ModelState(enum.Enum):
    MISSING = "missing"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass
class ServedModel:
    """A model as this process serves it. Once READY, the pipeline reaches its engine only
    through these methods: tokens in and out, the decoding bounds, and `generate`, which queues
    rows in the model's batcher."""

    spec: ModelSpec
    state: ModelState = ModelState.LOADING
    demo: bool = False
    engine_kind: str = ""
    detail: str = ""
    engine: Engine | None = None
    batcher: Batcher | None = None
    #: These weights on this engine: what a calibration and a cache entry are keyed by (None
    #: until loaded).
    identity: ModelIdentity | None = None
    #: Seq-Logprob below which a sentence is LOW_CONFIDENCE; None where not calibrated.
    low_confidence_below: float | None = None

    def _engine(self) -> Engine:
        if self.engine is None:
            raise ServiceUnavailable(f"model {self.spec.name} is not loaded")
        return self.engine

    # -- tokens ------------------------------------------------------------------------------

    def encode(self, text: str) -> list[str]:
        """The model's input tokens for `text`, end marker included."""
        return self._engine().encode(text)

    def decode(self, tokens: Sequence[str]) -> str:
        return self._engine().decode(tokens)

    def count_tokens(self, text: str) -> int:
        return self._engine().count_tokens(text)

    @property
    def special_tokens(self) -> frozenset[str]:
        return self._engine().special_tokens

    @property
    def word_marker(self) -> str | None:
        return self._engine().word_marker

    @property
    def max_input_tokens(self) -> int:
        return self._engine().max_input_tokens

    @property
    def settings(self) -> GenerationSettings:
        return self._engine().settings

    def content_limit(self, max_new_tokens: int) -> int:
        """The most content tokens a row decoded with `max_new_tokens` can get
        (`Engine.content_limit`)."""
        return self._engine().content_limit(max_new_tokens)

    # -- generating --------------------------------------------------------------------------

    def generate(
        self,
        rows: Sequence[Sequence[str]],
        ctx: RequestContext,
        *,
        max_new_tokens: Sequence[int],
        min_new_tokens: int = 0,
        with_attention: bool = False,
        rank: int = 0,
        on_engine: Callable[[], None] | None = None,
        hypotheses: int = 1,
    ) -> list[Generated]:
        """Queue `rows` in this model's batcher and wait for them (`Batcher.submit_full`).
        `on_engine` is called once, from the batcher, when the first of them enters an engine
        call; `hypotheses` > 1 asks for the next best outputs too."""
        if self.batcher is None:
            raise ServiceUnavailable(f"model {self.spec.name} is not loaded")
        return self.batcher.submit_full(
            rows,
            ctx,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            with_attention=with_attention,
            rank=rank,
            on_engine=on_engine,
            hypotheses=hypotheses,
        )


#: Makes the per-model batch observer (metrics); None for no observer.
ObserverFactory = Callable[[str], BatchObserver | None]


class ModelPool:
    def __init__(
        self,
        registry: Registry,
        store: ModelStore,
        *,
        batcher_config: BatcherConfig | None = None,
        engine_options: EngineOptions | None = None,
        observer_factory: ObserverFactory | None = None,
        calibration: Mapping[str, Calibration] | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self._calibration = calibration or {}
        self._batcher_config = batcher_config or BatcherConfig()
        self._engine_options = engine_options or EngineOptions()
        self._observer_factory = observer_factory
        self._models = {name: ServedModel(spec) for name, spec in registry.models.items()}
        self._lock = threading.Lock()

    def load_all(self, on_change: Callable[[], None] | None = None) -> None:
        """Load and warm up every model; a failure leaves that model FAILED, the rest serve."""
        for name in self._models:
            self.load(name)
            if on_change is not None:
                on_change()

    def load(self, name: str) -> ServedModel:
        served = self._models[name]
        spec = served.spec
        try:
            path: Path | None = None
            ct2_path: Path | None = None
            if spec.engine != "identity":
                local = self.store.locate(spec)
                if local is None:
                    served.state = ModelState.MISSING
                    served.detail = f"not in {self.store.root}; {PULL_HINT}"
                    log.warning("model %s: %s", name, served.detail)
                    return served
                mismatch = _lock_mismatch(self.store, local)
                if mismatch:
                    served.state = ModelState.FAILED
                    served.detail = mismatch
                    log.error("model %s: %s", name, mismatch)
                    return served
                path, served.demo = local.path, local.demo
                ct2_path = self.store.ct2_path(local, self.compute_type(spec))
            engine = create_engine(
                spec,
                path,
                demo=served.demo,
                options=self._engine_options,
                ct2_path=ct2_path,
                compute_type=self.compute_type(spec),
            )
            _warm_up(engine)
        except Exception as exc:
            served.state = ModelState.FAILED
            served.detail = f"failed to load: {type(exc).__name__}"
            log.exception("model %s failed to load", name)
            return served
        observer = self._observer_factory(name) if self._observer_factory else None
        compute = self.compute_type(spec) if engine.kind == "ctranslate2" else "float32"
        identity = identify(
            spec.name, spec.repo, path, engine=engine.kind, compute_type=compute, demo=engine.demo
        )
        with self._lock:
            served.identity = identity
            served.low_confidence_below = low_confidence_threshold(self._calibration, identity)
            served.engine = engine
            served.engine_kind = engine.kind
            served.demo = engine.demo
            served.batcher = Batcher(engine, self._batcher_config, observer=observer)
            served.state = ModelState.READY
            served.detail = ""
        log.info("model %s ready: engine=%s demo=%s", name, engine.kind, str(engine.demo).lower())
        return served

    def compute_type(self, spec: ModelSpec) -> str:
        return resolve_compute_type(spec, self._engine_options.device)

    def get(self, name: str) -> ServedModel:
        """The model, ready to serve, or ModelUnavailable naming the fix."""
        served = self._models[name]
        if served.state is ModelState.READY:
            return served
        if served.state is ModelState.MISSING:
            raise ModelUnavailable(name, "not installed", PULL_HINT)
        if served.state is ModelState.LOADING:
            raise ServiceUnavailable(f"model {name} is still loading; retry shortly")
        raise ModelUnavailable(name, "failed to load", "see the server log; " + PULL_HINT)

    def info(self, name: str) -> ServedModel:
        """The model's entry, whatever its state."""
        return self._models[name]

    def models(self) -> list[ServedModel]:
        return list(self._models.values())

    def is_ready(self, name: str) -> bool:
        return self._models[name].state is ModelState.READY

    def close(self, timeout: float = 5.0) -> None:
        for served in self._models.values():
            if served.batcher is not None:
                served.batcher.close(timeout)
            if served.engine is not None:
                served.engine.close()


#: At most this many lock problems are named in a model's detail; the rest are counted.
_MAX_PROBLEMS = 3


def _lock_mismatch(store: ModelStore, local: LocalModel) -> str:
    """Why a located model must not load because of the lock ("" when it may): its files
    differ in size from its entry in newsmt.lock, or the lock cannot be read."""
    try:
        problems = store.lock_problems(local)
    except LockError as exc:
        return f"the model lock cannot be read: {exc}"
    if not problems:
        return ""
    named = "; ".join(problems[:_MAX_PROBLEMS])
    more = len(problems) - _MAX_PROBLEMS
    extra = f"; and {more} more" if more > 0 else ""
    return (
        f"files differ from {store.lock_file.name}: {named}{extra}. Run `newsmt models verify`, "
        "then `newsmt models pull` again"
    )


def _warm_up(engine: Engine) -> None:
    """One real inference, so that the first request does not pay for lazy initialisation."""
    tokens = engine.encode("Hello.")
    engine.generate([tokens], max_new_tokens=2)
