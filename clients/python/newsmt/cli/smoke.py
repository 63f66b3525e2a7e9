"""`newsmt smoke`: run every seed article through the service and report.

Per article: ProcessArticle (en->ru, en->es; summaries in en, ru, es), then the two
translations back into English with Translate. Exits 1 if any stage failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsmt.cli._options import seconds
from newsmt.cli._seeds import SeedArticle, find_articles, read_article
from newsmt.cli.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

TARGETS = ("ru", "es")
SUMMARIES = ("en", "ru", "es")

DEMO_BANNER = """\
!! DEMO MODELS: {names} have RANDOM WEIGHTS.
!! Their output is meaningless text: this run checks the service end to end, not translation
!! quality. For real translations: `newsmt models pull` (needs access to huggingface.co)."""
IDENTITY_BANNER = """\
!! IDENTITY ENGINE: {names} return their input unchanged: this run checks the service end to
!! end, not translation."""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "smoke",
        help="run every seed article through the service and report",
        description="Run every article in --seeds through the service: ProcessArticle into "
        "Russian and Spanish with summaries in English, Russian and Spanish, then the "
        "translations back into English. Without --address it starts a server in this "
        "process on a free port; if no models are installed it first builds demo models "
        "(random weights, cached under --model-dir/demo) and says so. Exit code 0: every "
        "stage passed; 1: a stage failed; 2: set-up failed (no seeds, server not reachable).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seeds", type=Path, default=Path("seeds"), help="folder of .txt articles")
    parser.add_argument(
        "--address", help="use a running server at host:port instead of starting one"
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="model folder for the in-process server (default: models, or $NEWSMT_MODEL_DIR)",
    )
    parser.add_argument(
        "--registry", type=Path, default=None, help="registry TOML for the in-process server"
    )
    parser.add_argument(
        "--demo-size",
        choices=("full", "tiny"),
        default="full",
        help="size of demo models built when none are installed (full: the real models' shapes)",
    )
    parser.add_argument("--timeout", type=seconds, default=600.0, help="deadline per call, seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON report instead of text")
    parser.set_defaults(run=run)


@dataclass
class Stage:
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    demo: bool = False
    models: tuple[str, ...] = ()
    chars: int = 0


@dataclass
class ArticleReport:
    file: str
    title: str
    detected: str = ""
    confidence: float = 0.0
    stages: list[Stage] = field(default_factory=list)
    seconds: float = 0.0
    process_article_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.stages) and all(s.ok for s in self.stages)


def run(args: argparse.Namespace) -> int:
    from newsmt.server.logs import configure

    configure("text", "WARNING")
    out = _Printer(quiet=args.json)
    paths = find_articles(args.seeds) if args.seeds.is_dir() else []
    if not paths:
        print(f"newsmt smoke: no .txt articles in {args.seeds}/ (use --seeds DIR)", file=sys.stderr)
        return EXIT_USAGE
    started = time.monotonic()
    try:
        with _target(args, out) as address:
            reports, demo_models, identity_models = _run_articles(address, paths, args.timeout, out)
    except _SetupError as exc:
        print(f"newsmt smoke: {exc}", file=sys.stderr)
        return EXIT_USAGE
    total = time.monotonic() - started
    stages = [s for r in reports for s in r.stages]
    failed = [s for s in stages if not s.ok]
    if args.json:
        report = _as_json(reports, demo_models, total)
        report["identity_models"] = identity_models
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        out.line()
        verdict = "PASSED" if not failed else "FAILED"
        out.line(
            f"{verdict}: {len(reports)} article(s), {len(stages)} stages, "
            f"{len(stages) - len(failed)} passed, {len(failed)} failed in {total:.1f} s"
        )
        if demo_models:
            out.line("(demo models: the texts above are meaningless)")
        if identity_models:
            out.line("(identity engine: the texts above are their inputs)")
    return EXIT_OK if not failed else EXIT_FAILED


class _SetupError(Exception):
    pass


class _Printer:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def line(self, text: str = "") -> None:
        if not self.quiet:
            print(text, flush=True)


@contextlib.contextmanager
def _target(args: argparse.Namespace, out: _Printer) -> Iterator[str]:
    """The address to test: --address, or an in-process server on a free port."""
    if args.address:
        out.line(f"newsmt smoke: using the server at {args.address}")
        yield args.address
        return
    from newsmt.cli.serve import settings_from
    from newsmt.models.registry import Registry, RegistryError
    from newsmt.models.store import ModelStore, serving_compute_types
    from newsmt.server.app import serving
    from newsmt.server.settings import SettingsError

    try:
        settings = settings_from(
            args,
            port=0,
            host="127.0.0.1",
            metrics_port=-1,
            http_port=-1,
            model_dir=args.model_dir,
            registry=args.registry,
        )
        registry = Registry.load(settings.registry)
    except (SettingsError, RegistryError) as exc:
        raise _SetupError(str(exc)) from None
    store = ModelStore(settings.model_dir)
    missing = [
        spec
        for spec in registry.models.values()
        if spec.engine != "identity" and store.locate(spec) is None
    ]
    if missing:
        out.line(
            f"No model files in {settings.model_dir}/ for: {', '.join(s.name for s in missing)}."
        )
        out.line(
            f"Building {args.demo_size} demo models (random weights, the real architecture and "
            f"tokenizer files) into {settings.model_dir}/demo/, and their CTranslate2 "
            "conversions. This happens once."
        )
        for spec in missing:
            t0 = time.monotonic()
            # With the conversion the server will load: as in production, CTranslate2 int8.
            store.ensure(
                spec,
                demo_size=args.demo_size,
                compute_types=serving_compute_types(spec, settings.device),
            )
            out.line(f"  built demo {spec.name} in {time.monotonic() - t0:.1f} s")
    out.line("Starting an in-process server and loading models...")
    t0 = time.monotonic()
    with serving(settings, registry, ready_timeout=None, grace=5) as (_, address):
        out.line(f"Server on {address}, models loaded in {time.monotonic() - t0:.1f} s")
        yield address


def _run_articles(
    address: str, paths: list[Path], timeout: float, out: _Printer
) -> tuple[list[ArticleReport], list[str], list[str]]:
    """Every seed article through the service: the reports, the demo models (random weights)
    and the models on the identity engine."""
    from newsmt.client import Client, NewsmtError

    with Client(address, timeout=timeout) as client:
        try:
            client.wait_until_serving(timeout=60)
            models = client.list_models()
        except NewsmtError as exc:
            raise _SetupError(f"server at {address} is not serving: {exc}") from None
        out.line()
        out.line("Models:")
        for m in models:
            flag = _label(m)
            out.line(f"  {m.name:<22} {m.state:<8} {m.engine:<13} {flag}")
        engines = {m.name: m.engine for m in models}
        identity = [m.name for m in models if m.engine == "identity"]
        demo = [m.name for m in models if m.demo and m.engine != "identity"]
        if demo:
            out.line()
            out.line(DEMO_BANNER.format(names=", ".join(demo)))
        if identity:
            out.line()
            out.line(IDENTITY_BANNER.format(names=", ".join(identity)))
        reports = []
        for n, path in enumerate(paths, start=1):
            article = read_article(path)
            out.line()
            out.line(f"[{n}/{len(paths)}] {path.name}: {article.title[:70]!r}")
            report = _run_article(client, path, article, timeout)
            for stage in report.stages:
                mark = "OK  " if stage.ok else "FAIL"
                tag = _tag(stage, engines)
                models_used = " > ".join(stage.models)
                out.line(
                    f"  {mark} {stage.name:<16} {_secs(stage.seconds)}  {stage.detail}"
                    f"{'  via ' + models_used if models_used else ''}{tag}"
                )
            out.line(
                f"  detected {report.detected} ({report.confidence:.2f}); ProcessArticle "
                f"{report.process_article_seconds:.2f} s for its five stages, "
                f"{report.seconds:.1f} s in all"
            )
            reports.append(report)
    return reports, demo, identity


def _label(model: Any) -> str:
    """What a model is, in the models table: the identity engine says so (it has no
    weights, random or real)."""
    if model.engine == "identity":
        return "IDENTITY (output = input)"
    if model.demo:
        return "DEMO (random weights)"
    return "real" if model.loaded else ""


def _tag(stage: Any, engines: dict[str, str]) -> str:
    if not stage.demo:
        return ""
    if stage.models and all(engines.get(m) == "identity" for m in stage.models):
        return " [identity]"
    return " [demo]"


def _run_article(client: Any, path: Path, article: SeedArticle, timeout: float) -> ArticleReport:
    from newsmt.client import NewsmtError

    report = ArticleReport(path.name, article.title)
    t0 = time.monotonic()
    try:
        result = client.process_article(
            article.title,
            article.body,
            id=article.id,
            targets=TARGETS,
            summaries=SUMMARIES,
            timeout=timeout,
        )
    except NewsmtError as exc:
        report.stages.append(Stage("process-article", False, str(exc)))
        report.seconds = time.monotonic() - t0
        return report
    report.process_article_seconds = time.monotonic() - t0
    report.detected = result.detected_language.language
    report.confidence = result.detected_language.confidence
    report.stages += [_translation_stage(t, article) for t in result.translations]
    report.stages += [_summary_stage(s) for s in result.summaries]
    for t in result.translations:
        if t.status.ok:
            report.stages.append(_back_stage(client, t, timeout))
    report.seconds = time.monotonic() - t0
    return report


def _translation_stage(t: Any, article: SeedArticle) -> Stage:
    """One ProcessArticle translation as a stage (its time is the call's, reported once)."""
    ok = t.status.ok and bool(t.body.strip()) == bool(article.body.strip())
    detail = f"{len(t.body)} chars" if t.status.ok else f"{t.status.code_name}: {t.status.message}"
    if t.status.ok and not ok:
        detail = "empty translation of a non-empty body"
    if t.output_truncated:
        detail += " (some sentences hit the output bound)"
    return Stage(
        f"translate en>{t.language}", ok, detail, 0.0, t.route.demo, t.route.models, len(t.body)
    )


def _summary_stage(s: Any) -> Stage:
    """One ProcessArticle summary as a stage (its time is the call's, reported once)."""
    ok = s.status.ok and bool(s.text.strip())
    h = s.input_handling
    if s.status.ok:
        how = f"{h.mode}" + (f" ({h.chunks} chunks)" if h.mode == "chunked" else "")
        detail = f"{len(s.text)} chars, input {how}, {h.input_tokens}/{h.window_tokens} tokens"
    else:
        detail = f"{s.status.code_name}: {s.status.message}"
    return Stage(
        f"summary {s.language}", ok, detail, 0.0, s.route.demo, s.route.models, len(s.text)
    )


def _back_stage(client: Any, t: Any, timeout: float) -> Stage:
    """Translation `t` translated back into English, timed on its own."""
    from newsmt.client import NewsmtError

    t1 = time.monotonic()
    try:
        back = client.translate([t.title, t.body], source=t.language, target="en", timeout=timeout)
    except NewsmtError as exc:
        return Stage(f"back {t.language}>en", False, str(exc), time.monotonic() - t1)
    body = back[1]
    return Stage(
        f"back {t.language}>en",
        bool(body.text.strip()) == bool(t.body.strip()),
        f"{len(body.text)} chars",
        time.monotonic() - t1,
        body.route.demo,
        body.route.models,
        len(body.text),
    )


def _secs(seconds: float) -> str:
    return f"{seconds:6.2f} s" if seconds else " " * 8


def _as_json(reports: list[ArticleReport], demo_models: list[str], total: float) -> dict[str, Any]:
    stages = [s for r in reports for s in r.stages]
    return {
        "ok": all(r.ok for r in reports),
        "articles": len(reports),
        "stages": len(stages),
        "passed": sum(s.ok for s in stages),
        "failed": sum(not s.ok for s in stages),
        "seconds": round(total, 3),
        "demo_models": demo_models,
        "demo_warning": "random weights: output is meaningless" if demo_models else "",
        "reports": [
            {
                "file": r.file,
                "title": r.title,
                "detected_language": r.detected,
                "confidence": r.confidence,
                "ok": r.ok,
                "seconds": round(r.seconds, 3),
                "process_article_seconds": round(r.process_article_seconds, 3),
                "stages": [
                    {
                        "stage": s.name,
                        "ok": s.ok,
                        "detail": s.detail,
                        "seconds": round(s.seconds, 3),
                        "models": list(s.models),
                        "demo": s.demo,
                        "chars": s.chars,
                    }
                    for s in r.stages
                ],
            }
            for r in reports
        ],
    }
