"""Run `newsmt eval`: each engine over each test set, with the server's segmentation, output
bounds, runaway cut and quality signals; then scores, deltas, agreement, flag rates, Seq-Logprob
percentiles and the pass rules. `report.write_run` writes the results down."""

from __future__ import annotations

import importlib.metadata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from newsmt.evaluation import metrics
from newsmt.evaluation.data import Articles, TestSet
from newsmt.models.calibration import Calibration, percentiles
from newsmt.models.factory import open_engine
from newsmt.models.identity import ModelIdentity, hash_files
from newsmt.models.lock import check_sizes, hash_model_dir
from newsmt.models.registry import ModelSpec
from newsmt.models.store import LocalModel, ModelStore
from newsmt.pipeline import faithfulness, quality
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.documents import parse, render
from newsmt.pipeline.documents.finish import finish_unit
from newsmt.pipeline.hops import plan_rows, read_rows
from newsmt.pipeline.nfc import normalize, to_original

if TYPE_CHECKING:
    # Types only: eval drives an engine directly (no batcher), through `open_engine`.
    from newsmt.engines.base import Engine, Generated

#: Libraries whose versions the report records.
LIBRARIES = (
    "newsmt",
    "ctranslate2",
    "transformers",
    "torch",
    "tokenizers",
    "sentencepiece",
    "huggingface-hub",
    "sacrebleu",
    "unbabel-comet",
    "datasets",
)
COMET_MODEL = "Unbabel/wmt22-comet-da"


class EvalError(RuntimeError):
    """`newsmt eval` cannot run as asked (a model refused, missing or broken); the message
    says why and what to do."""


@dataclass(frozen=True)
class EngineChoice:
    """An engine to evaluate: "ct2-<compute type>" or "transformers-float32"."""

    name: str
    kind: str  # "ctranslate2" or "transformers"
    compute_type: str


def parse_engines(text: str) -> list[EngineChoice]:
    from newsmt.models.convert import QUANTIZATIONS

    choices = []
    for name in (n.strip() for n in text.split(",") if n.strip()):
        if name.startswith("ct2-") and name[4:] in QUANTIZATIONS:
            choices.append(EngineChoice(name, "ctranslate2", name[4:]))
        elif name == metrics.TRANSFORMERS:
            choices.append(EngineChoice(name, "transformers", "float32"))
        else:
            raise ValueError(
                f"unknown engine {name!r}: use ct2-<{'|'.join(QUANTIZATIONS)}> or "
                f"{metrics.TRANSFORMERS}"
            )
    if not choices or len({c.name for c in choices}) != len(choices):
        raise ValueError("--engines needs at least one engine, each once")
    return choices


# -- models --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """Which weights ran: the report's model section, and the calibration identity."""

    name: str
    repo: str
    revision: str
    commit: str  # the lock's commit, the snapshot folder, "demo" or "identity"
    demo: bool
    pinned: bool
    files: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "demo": self.demo,
            "pinned": self.pinned,
            "files": list(self.files),
        }


def prepare_model(
    store: ModelStore, spec: ModelSpec, *, allow_unpinned: bool
) -> tuple[LocalModel | None, ModelInfo]:
    """Locate `spec` and check it against the lock. A model with no lock entry (demo and
    identity models included) is refused unless `allow_unpinned`; one whose files differ
    from its entry always is."""
    hint = "pass --allow-unpinned to evaluate it anyway"
    if spec.engine == "identity":
        if not allow_unpinned:
            raise EvalError(f"{spec.name}: the identity engine has no weights to pin; {hint}")
        return None, ModelInfo(spec.name, spec.repo, spec.revision, "identity", True, False)
    local = store.locate(spec)
    if local is None:
        raise EvalError(
            f"{spec.name}: no model files in {store.root}; run `newsmt models pull` (or "
            "`newsmt models make-demo`)"
        )
    if local.demo:
        if not allow_unpinned:
            raise EvalError(f"{spec.name}: a demo model (random weights) is not pinned; {hint}")
        files = tuple(
            {"path": f.path, "size": f.size, "sha256": f.sha256} for f in hash_files(local.path)
        )
        return local, ModelInfo(spec.name, spec.repo, spec.revision, "demo", True, False, files)
    entry = store.read_lock().get(spec.name)
    if entry is None:
        if not allow_unpinned:
            raise EvalError(
                f"{spec.name}: no entry in {store.lock_file}; run `newsmt models pull "
                f"{spec.name}` to record it, or {hint}"
            )
        entry = hash_model_dir(
            local.path, repo=spec.repo, revision=spec.revision, commit=local.path.name
        )
        pinned = False
    else:
        problems = check_sizes(local.path, entry)
        if problems:
            raise EvalError(
                f"{spec.name}: files differ from {store.lock_file.name}: {'; '.join(problems[:3])}"
                "; run `newsmt models verify`"
            )
        pinned = True
    files = tuple({"path": f.path, "size": f.size, "sha256": f.sha256} for f in entry.files)
    return local, ModelInfo(spec.name, spec.repo, spec.revision, entry.commit, False, pinned, files)


# -- translating ---------------------------------------------------------------------------------


@dataclass
class Translation:
    """One engine's output on a test set, with the quality of every sentence."""

    hypotheses: list[str]
    sentences: list[quality.SentenceQuality] = field(default_factory=list)
    truncated: int = 0  # sentences that hit their bound or had a loop cut


def translate_lines(
    engine: Engine,
    lines: Sequence[str],
    source: str,
    target: str,
    *,
    config: PipelineConfig | None = None,
    batch_size: int = 16,
    detect: Callable[[str], tuple[str, float]] | None = None,
) -> Translation:
    """Translate each line as the server translates a plain text: its sentence units (in
    NFC), planned and read back by the server's own hop functions (`hops.plan_rows`,
    `hops.read_rows`: sentence limit, output bound, content limit, loop cut, quality), each
    unit's protected spans repaired, the line rendered. Only the batching is eval's own: rows
    sorted by length, `batch_size` at a time, straight to the engine."""
    config = config or PipelineConfig()
    docs = [parse(line, "plain", source) for line in lines]
    units = [(d, unit) for d, doc in enumerate(docs) for unit in doc.units if unit.needs_model]
    inputs = [normalize(unit.text) for _, unit in units]
    plan = plan_rows(inputs, engine, config)
    outputs: list[Generated | None] = [None] * len(plan.rows)
    order = sorted(range(len(plan.rows)), key=lambda i: len(plan.rows[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        generated = engine.generate(
            [plan.rows[i] for i in chunk], max_new_tokens=max(plan.bounds[i] for i in chunk)
        )
        for i, done in zip(chunk, generated, strict=True):
            outputs[i] = done
    read = read_rows(
        plan, [o for o in outputs if o is not None], engine, source, target, detect=detect
    )
    result = Translation(hypotheses=[])
    per_doc: list[list[tuple[str, None] | None]] = [[None] * len(doc.units) for doc in docs]
    for (d, unit), text, out in zip(units, inputs, read, strict=True):
        output, _ = to_original(unit.text, text, out.text, None)
        per_doc[d][unit.index] = (finish_unit(unit, output, None).output[0], None)
        result.truncated += out.truncated
        result.sentences.append(out.quality)
    result.hypotheses = [render(doc, outs).text for doc, outs in zip(docs, per_doc, strict=True)]
    return result


def flag_summary(sentences: Sequence[quality.SentenceQuality]) -> dict[str, Any]:
    """Flag rates (share of sentences with each flag) and the Seq-Logprob percentiles."""
    counts: Counter[str] = Counter(f.name for s in sentences for f in s.flags)
    n = len(sentences)
    scores = [s.mean_logprob for s in sentences if s.mean_logprob is not None]
    return {
        "sentences": n,
        "flagged_share": sum(1 for s in sentences if s.flags) / n if n else 0.0,
        "flag_rates": {flag.name: counts[flag.name] / n if n else 0.0 for flag in quality.Flag},
        "logprob_samples": len(scores),
        "logprob_percentiles": percentiles(scores) if scores else {},
    }


# -- summarizing ---------------------------------------------------------------------------------


def summarize_articles(engine: Engine, articles: Sequence[str], batch_size: int = 4) -> list[str]:
    """The model's own summary of each article's first window (the model's input limit, as
    the model card's scores were made), with its generation settings."""
    rows = []
    for article in articles:
        tokens = engine.encode(article)
        if len(tokens) > engine.max_input_tokens:
            tokens = tokens[: engine.max_input_tokens - 1] + tokens[-1:]  # keep </s>
        rows.append(tokens)
    s = engine.settings
    out = []
    for start in range(0, len(rows), batch_size):
        for row in engine.generate(
            rows[start : start + batch_size],
            max_new_tokens=s.max_length,
            min_new_tokens=s.min_length,
        ):
            out.append(engine.decode(row.tokens))
    return out


# -- the run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    engines: tuple[EngineChoice, ...]
    allow_unpinned: bool = False
    comet: bool = False
    device: str = "cpu"
    threads: int = 0
    bootstrap_samples: int = 1000
    batch_size: int = 16


@dataclass
class Run:
    """Everything the report holds; `report.write_run` writes it."""

    demo: bool = False
    models: dict[str, ModelInfo] = field(default_factory=dict)
    pairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    summarizer: dict[str, Any] | None = None
    rules: list[metrics.Rule] = field(default_factory=list)
    calibration: list[Calibration] = field(default_factory=list)
    hypotheses: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    libraries: dict[str, str | None] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return metrics.rules_pass(self.rules)


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _translate_with_engines(
    run: Run,
    store: ModelStore,
    spec: ModelSpec,
    local: LocalModel | None,
    info: ModelInfo,
    test: TestSet,
    options: Options,
    detect: Callable[[str], tuple[str, float]] | None,
) -> tuple[dict[str, Translation], dict[str, dict[str, Any]]]:
    """`test` translated by every engine on the model, each engine's decoding settings, and
    each engine's calibration added to `run`."""
    translations: dict[str, Translation] = {}
    decoding: dict[str, dict[str, Any]] = {}
    for choice in _runs(spec, options):
        engine = _open(store, spec, local, choice, options)
        try:
            decoding[choice.name] = dict(vars(engine.settings))
            translations[choice.name] = translate_lines(
                engine,
                test.sources,
                spec.source,
                spec.target,
                batch_size=options.batch_size,
                detect=detect,
            )
        finally:
            engine.close()
        identity = ModelIdentity(
            spec.name, info.commit, engine.kind or choice.kind, choice.compute_type, info.demo
        )
        scores = [
            s.mean_logprob
            for s in translations[choice.name].sentences
            if s.mean_logprob is not None
        ]
        if scores:
            run.calibration.append(
                Calibration(identity, len(scores), percentiles(scores), test.name)
            )
    return translations, decoding


def _deltas(plain: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The score differences the rules judge: int8 against float32, CTranslate2 against
    transformers (where both ran)."""
    deltas = {}
    for a, b, label in (
        (metrics.INT8, metrics.FLOAT32, "int8 - float32"),
        (metrics.FLOAT32, metrics.TRANSFORMERS, "ct2 - transformers"),
    ):
        if a in plain and b in plain:
            deltas[label] = {k: plain[a][k] - plain[b][k] for k in plain[a]}
    return deltas


def _agreement(hypotheses: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """How often each pair of engines gave exactly the same line."""
    names = list(hypotheses)
    return {
        f"{a} vs {b}": {"exact_match": metrics.exact_match(hypotheses[a], hypotheses[b])}
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }


def _open(
    store: ModelStore,
    spec: ModelSpec,
    local: LocalModel | None,
    choice: EngineChoice,
    options: Options,
) -> Engine:
    """The engine `choice` on the model, on `--threads` threads (default: every usable CPU)."""
    threads = options.threads
    if threads <= 0:
        from newsmt.server.cpu import usable_cpus

        threads = max(1, usable_cpus())
    return open_engine(
        store,
        spec,
        local,
        kind=choice.kind,
        compute_type=choice.compute_type,
        device=options.device,
        threads=threads,
    )


def _runs(spec: ModelSpec, options: Options) -> list[EngineChoice]:
    """The engines to run for `spec`: the identity engine runs once, as itself."""
    if spec.engine == "identity":
        return [EngineChoice("identity", "identity", "none")]
    return list(options.engines)


def _ordered(names: Sequence[str]) -> list[str]:
    """Engine names with ct2-float32 first: the baseline of the paired tests."""
    return sorted(names, key=lambda n: n != metrics.FLOAT32)


def evaluate_pair(
    run: Run,
    store: ModelStore,
    spec: ModelSpec,
    test: TestSet,
    options: Options,
    *,
    detect: Callable[[str], tuple[str, float]] | None = None,
) -> None:
    """Translate `test` with every engine on `spec`'s model and add the results to `run`."""
    pair = f"{spec.source}-{spec.target}"
    local, info = prepare_model(store, spec, allow_unpinned=options.allow_unpinned)
    run.models[spec.name] = info
    run.demo = run.demo or info.demo
    translations, decoding = _translate_with_engines(
        run, store, spec, local, info, test, options, detect
    )
    names = _ordered(list(translations))
    signatures, scored = metrics.corpus_scores(
        [(n, translations[n].hypotheses) for n in names],
        test.references,
        target=spec.target,
        samples=options.bootstrap_samples,
    )
    comet = (
        comet_scores({n: translations[n].hypotheses for n in names}, test, options)
        if options.comet
        else {}
    )
    engines: dict[str, Any] = {}
    for n in names:
        engines[n] = {
            **{k: vars(v) for k, v in scored[n].items()},
            "comet": comet.get(n),
            "truncated": translations[n].truncated,
            **flag_summary(translations[n].sentences),
            "decoding": decoding[n],
        }
    plain = {n: {k: v.score for k, v in scored[n].items()} for n in names}
    run.pairs[pair] = {
        "model": spec.name,
        "test_set": test.name,
        "lines": len(test.sources),
        "signatures": signatures,
        "engines": engines,
        "deltas": _deltas(plain),
        "agreement": _agreement({n: translations[n].hypotheses for n in names}),
        "published": metrics.PUBLISHED.get((pair, test.name)),
        "published_source": metrics.PUBLISHED_SOURCE,
    }
    run.hypotheses[pair] = {n: translations[n].hypotheses for n in names}


def evaluate_summarizer(
    run: Run, store: ModelStore, spec: ModelSpec, articles: Articles, options: Options
) -> None:
    """Summarize `articles` with every engine on the summarizer; ROUGE and faithfulness."""
    local, info = prepare_model(store, spec, allow_unpinned=options.allow_unpinned)
    run.models[spec.name] = info
    run.demo = run.demo or info.demo
    engines: dict[str, Any] = {}
    outputs: dict[str, list[str]] = {}
    for choice in _runs(spec, options):
        engine = _open(store, spec, local, choice, options)
        try:
            summaries = summarize_articles(engine, articles.articles)
        finally:
            engine.close()
        outputs[choice.name] = summaries
        checks = [
            faithfulness.assess(a, s) for a, s in zip(articles.articles, summaries, strict=True)
        ]
        engines[choice.name] = {
            **metrics.corpus_rouge(summaries, articles.summaries),
            "unfaithful_share": sum(c.flagged for c in checks) / len(checks),
        }
    run.summarizer = {
        "model": spec.name,
        "articles": articles.name,
        "count": len(articles.articles),
        "tokenizer": "Unicode words, casefolded, no stemming (metrics.rouge_tokens)",
        "engines": engines,
        "published": metrics.PUBLISHED_SUMMARIZER,
        "published_source": metrics.PUBLISHED_SOURCE,
    }
    run.hypotheses["summarizer"] = outputs


def comet_scores(
    systems: dict[str, list[str]], test: TestSet, options: Options
) -> dict[str, float]:
    """COMET system scores (Unbabel/wmt22-comet-da, 0-1) for each system."""
    from comet import download_model, load_from_checkpoint

    model = load_from_checkpoint(download_model(COMET_MODEL))
    gpus = 1 if options.device == "cuda" else 0
    out = {}
    for name, hypotheses in systems.items():
        data = [
            {"src": s, "mt": h, "ref": r}
            for s, h, r in zip(test.sources, hypotheses, test.references, strict=True)
        ]
        prediction = model.predict(data, batch_size=16, gpus=gpus, progress_bar=False)
        out[name] = float(prediction.system_score)
    return out


def finish(run: Run, options: Options) -> Run:
    """The pass rules, the library versions and the settings, once every step has run."""
    translation = {
        pair: {
            n: {"bleu": e["bleu"]["score"], "chrf": e["chrf"]["score"]}
            for n, e in r["engines"].items()
        }
        for pair, r in run.pairs.items()
    }
    summarizer = (
        {n: {"rouge2": e["rouge2"]} for n, e in run.summarizer["engines"].items()}
        if run.summarizer is not None
        else None
    )
    run.rules = metrics.check_rules(translation, summarizer)
    run.libraries = library_versions()
    run.settings = {
        "engines": [c.name for c in options.engines],
        "device": options.device,
        "bootstrap_samples": options.bootstrap_samples,
        "comet": COMET_MODEL if options.comet else None,
    }
    return run
