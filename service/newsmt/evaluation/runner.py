"""Run `newsmt eval`: each engine over each test set, with the server's segmentation, output
bounds, runaway cut and quality signals; then scores, deltas, agreement, flag rates, Seq-Logprob
percentiles and the pass rules. `report.write_run` writes the results down."""

from __future__ import annotations

import importlib.metadata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from newsmt.engines.base import Engine, EngineOptions, Generated
from newsmt.evaluation import metrics
from newsmt.evaluation.data import Articles, TestSet
from newsmt.models.calibration import Calibration, ModelIdentity, percentiles
from newsmt.models.factory import create_engine
from newsmt.models.lock import check_sizes, hash_model_dir, sha256_file
from newsmt.models.registry import ModelSpec
from newsmt.models.store import LocalModel, ModelStore
from newsmt.pipeline import faithfulness, quality
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.runaway import cut_loop
from newsmt.pipeline.segment import Piece, fit, segment

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
            {"path": p.relative_to(local.path).as_posix(), "size": p.stat().st_size}
            | {"sha256": sha256_file(p)}
            for p in sorted(local.path.rglob("*"))
            if p.is_file()
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


def open_engine(
    store: ModelStore,
    spec: ModelSpec,
    local: LocalModel | None,
    choice: EngineChoice,
    options: EngineOptions,
) -> Engine:
    """The engine `choice` asks for, on this model (a CTranslate2 conversion is made first
    where missing). Its decoding settings are the server's: the model's generation config
    and the registry's overrides, passed explicitly (`engine.settings`)."""
    if spec.engine == "identity":
        return create_engine(spec, None, demo=True, options=options)
    assert local is not None
    if choice.kind == "ctranslate2":
        if not store.is_converted(local, choice.compute_type):
            store.convert(local, choice.compute_type)
        return create_engine(
            replace(spec, engine="ctranslate2"),
            local.path,
            demo=local.demo,
            options=options,
            ct2_path=store.ct2_path(local, choice.compute_type),
            compute_type=choice.compute_type,
        )
    return create_engine(
        replace(spec, engine="transformers"), local.path, demo=local.demo, options=options
    )


# -- translating ---------------------------------------------------------------------------------


@dataclass
class Translation:
    """One engine's output on a test set, with the quality of every sentence."""

    hypotheses: list[str]
    sentences: list[quality.SentenceQuality] = field(default_factory=list)
    truncated: int = 0  # sentences that hit their bound or had a loop cut


def output_bound(input_tokens: int, model_max: int, config: PipelineConfig) -> int:
    """The server's output bound for a sentence (pipeline/translate.py, Translator)."""
    bound = int(config.output_ratio * input_tokens) + config.output_extra
    return max(1, min(bound, model_max))


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
    """Translate each line as the server translates a text: segmented into sentences (long
    ones split), each decoded within the server's output bound, a trailing loop cut (unless
    the source loops too), then assessed by `quality.assess`. Rows are batched by length;
    a row in a batch with a larger bound is cut to its own, as the batcher does."""
    config = config or PipelineConfig()
    limit = min(config.max_sentence_tokens, engine.max_input_tokens)
    encoded: dict[str, list[str]] = {}

    def count(text: str) -> int:
        if text not in encoded:
            encoded[text] = engine.encode(text)
        return len(encoded[text])

    docs = [fit(segment(line, source), count, limit) for line in lines]
    where = [(d, p) for d, doc in enumerate(docs) for p, piece in enumerate(doc) if piece.translate]
    rows = [encoded.get(docs[d][p].text) or engine.encode(docs[d][p].text) for d, p in where]
    bounds = [output_bound(len(row), engine.settings.max_length, config) for row in rows]
    outputs: list[Generated | None] = [None] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        generated = engine.generate(
            [rows[i] for i in chunk], max_new_tokens=max(bounds[i] for i in chunk)
        )
        for i, done in zip(chunk, generated, strict=True):
            outputs[i] = done.cut(engine.content_limit(bounds[i]))
    result = Translation(hypotheses=[])
    new_docs = [list(doc) for doc in docs]
    for (d, p), row, output, bound in zip(where, rows, outputs, bounds, strict=True):
        assert output is not None
        kept, looped = cut_loop(output.tokens)
        if looped and cut_loop([t for t in row if t not in engine.special_tokens])[1]:
            kept, looped = list(output.tokens), False
        text = engine.decode(kept)
        cut = looped or len(output.tokens) >= engine.content_limit(bound)
        result.truncated += cut
        result.sentences.append(
            quality.assess(
                docs[d][p].text,
                text,
                source_lang=source,
                target_lang=target,
                truncated=cut,
                loop_cut=looped,
                mean_logprob=output.logprob,
                detect=detect,
            )
        )
        new_docs[d][p] = Piece(text, translate=True)
    result.hypotheses = ["".join(p.text for p in doc) for doc in new_docs]
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


def _engine_options(options: Options) -> EngineOptions:
    if options.threads > 0:
        threads = options.threads
    else:
        from newsmt.server.cpu import usable_cpus

        threads = usable_cpus()
    return EngineOptions(device=options.device, intra_threads=max(1, threads))


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
    engine_options = _engine_options(options)
    translations: dict[str, Translation] = {}
    decoding: dict[str, dict[str, Any]] = {}
    for choice in _runs(spec, options):
        engine = open_engine(store, spec, local, choice, engine_options)
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
    deltas = {}
    for a, b, label in (
        (metrics.INT8, metrics.FLOAT32, "int8 - float32"),
        (metrics.FLOAT32, metrics.TRANSFORMERS, "ct2 - transformers"),
    ):
        if a in plain and b in plain:
            deltas[label] = {k: plain[a][k] - plain[b][k] for k in plain[a]}
    agreement = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            agreement[f"{a} vs {b}"] = {
                "exact_match": metrics.exact_match(
                    translations[a].hypotheses, translations[b].hypotheses
                ),
            }
    run.pairs[pair] = {
        "model": spec.name,
        "test_set": test.name,
        "lines": len(test.sources),
        "signatures": signatures,
        "engines": engines,
        "deltas": deltas,
        "agreement": agreement,
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
    engine_options = _engine_options(options)
    engines: dict[str, Any] = {}
    outputs: dict[str, list[str]] = {}
    for choice in _runs(spec, options):
        engine = open_engine(store, spec, local, choice, engine_options)
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
