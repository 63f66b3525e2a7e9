"""`newsmt eval`: measure quality with the server's engines on test sets, check that int8
matches float32, and write calibration.json. Needs the server package (imported lazily)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from newsmt.cli._options import non_negative_int, positive_int
from newsmt.cli.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

PAIRS = ("en-ru", "ru-en", "en-es", "es-en")
DEFAULT_ENGINES = "ct2-int8,ct2-float32,transformers-float32"
SUMMARIZER_DEFAULT_LIMIT = 500
COMET_NAME = "Unbabel/wmt22-comet-da"


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "eval",
        help="measure translation and summary quality; check int8 against float32",
        description="Translate test sets with each engine (the server's segmentation and "
        "decoding settings), and write eval/<timestamp>/report.json and report.md: BLEU, chrF, "
        "chrF++ with paired-bootstrap 95%% intervals, the int8 - float32 and CTranslate2 - "
        "transformers deltas, exact-match rates, quality-flag rates, Seq-Logprob percentiles, "
        "model commits and file hashes, library versions and the model cards' published "
        "scores; and calibration.json for the server's --calibration. Exits 1 when a pass "
        "rule fails (int8 vs float32: BLEU and chrF drop <= 0.5; CTranslate2 vs transformers "
        "float32: within 0.2 BLEU; summarizer int8 vs float32: ROUGE-2 drop <= 0.5). Test sets "
        "and CNN/DailyMail download on first use (network); pip install 'newsmt[eval]'.",
    )
    parser.add_argument(
        "--pair", action="append", choices=PAIRS, help="a direction (repeatable; default: all four)"
    )
    parser.add_argument(
        "--test-set",
        default=None,
        help="a sacrebleu test set (default per direction: wmt19 for en-ru and ru-en, wmt13 "
        "for en-es and es-en, where the model cards publish scores)",
    )
    parser.add_argument("--src", type=Path, default=None, help="local source file, one per line")
    parser.add_argument("--ref", type=Path, default=None, help="local reference file (with --src)")
    parser.add_argument(
        "--engines", default=DEFAULT_ENGINES, help=f"comma-separated (default: {DEFAULT_ENGINES})"
    )
    parser.add_argument(
        "--limit", type=positive_int, default=None, help="score the first N lines/articles"
    )
    parser.add_argument(
        "--comet",
        action="store_true",
        help=f"also COMET (needs: pip install unbabel-comet; downloads {COMET_NAME}, 2.3 GB)",
    )
    parser.add_argument(
        "--summarizer",
        action="store_true",
        help="also evaluate the summarizer (ROUGE; CNN/DailyMail test, or --articles)",
    )
    parser.add_argument(
        "--articles",
        type=Path,
        default=None,
        help='local JSONL for --summarizer: {"article": ..., "highlights": ...} per line',
    )
    parser.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="evaluate models with no entry in newsmt.lock (demo models included)",
    )
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="default: models, or $NEWSMT_MODEL_DIR"
    )
    parser.add_argument(
        "--registry", type=Path, default=None, help="registry TOML (default: built-in)"
    )
    parser.add_argument("--out", type=Path, default=Path("eval"), help="default: eval/")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--threads", type=non_negative_int, default=0, help="engine threads (0: usable CPUs)"
    )
    parser.add_argument(
        "--bootstrap-samples", type=positive_int, default=1000, help="paired-bootstrap resamples"
    )
    parser.set_defaults(run=run_eval)


def _usage(message: str) -> int:
    print(f"newsmt eval: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_eval(args: argparse.Namespace) -> int:
    from newsmt.evaluation import data, report, runner
    from newsmt.evaluation.metrics import DEFAULT_TEST_SETS
    from newsmt.models.lock import LockError
    from newsmt.models.registry import Registry, RegistryError
    from newsmt.models.store import ModelStore
    from newsmt.pipeline.detect import LanguageDetection
    from newsmt.server.settings import Settings, SettingsError

    pairs = args.pair or list(PAIRS)
    if (args.src is None) != (args.ref is None):
        return _usage("--src and --ref go together")
    if args.src is not None and (len(pairs) != 1 or args.test_set is not None):
        return _usage("--src/--ref need exactly one --pair, and no --test-set")
    if args.articles is not None and not args.summarizer:
        return _usage("--articles goes with --summarizer")
    if args.comet and importlib.util.find_spec("comet") is None:
        return _usage("--comet needs the unbabel-comet package: pip install unbabel-comet")
    try:
        engines = tuple(runner.parse_engines(args.engines))
        settings = Settings.load({"model_dir": args.model_dir, "registry": args.registry})
        registry = Registry.load(settings.registry)
    except (ValueError, SettingsError, RegistryError) as exc:
        return _usage(str(exc))
    store = ModelStore(settings.model_dir)
    options = runner.Options(
        engines=engines,
        allow_unpinned=args.allow_unpinned,
        comet=args.comet,
        device=args.device,
        threads=args.threads,
        bootstrap_samples=args.bootstrap_samples,
    )
    run = runner.Run()
    detector = LanguageDetection()
    try:
        for pair in pairs:
            source, target = pair.split("-")
            spec = registry.translator(source, target)
            if spec is None:
                return _usage(f"the registry has no {pair} translator")
            if args.src is not None:
                test = data.local_test_set(args.src, args.ref, args.limit)
            else:
                name = args.test_set or DEFAULT_TEST_SETS[pair]
                test = data.sacrebleu_test_set(name, pair, args.limit)
            print(f"{pair}: {spec.name} on {test.name} ({len(test.sources)} lines)", flush=True)
            runner.evaluate_pair(run, store, spec, test, options, detect=detector.detect)
        if args.summarizer:
            spec = registry.summarizer()
            if spec is None:
                return _usage("the registry has no summarizer")
            if args.articles is not None:
                articles = data.local_articles(args.articles, args.limit)
            else:
                articles = data.cnn_dailymail(args.limit or SUMMARIZER_DEFAULT_LIMIT)
            print(f"summarizer: {spec.name} on {articles.name} ({len(articles.articles)})")
            runner.evaluate_summarizer(run, store, spec, articles, options)
    except (data.DataError, runner.EvalError, LockError) as exc:
        print(f"newsmt eval: {exc}", file=sys.stderr)
        return EXIT_FAILED
    runner.finish(run, options)
    folder = report.write_run(run, args.out)
    print(report.markdown(run), end="")
    print(f"\nreport: {folder / 'report.md'} (and report.json, calibration.json)")
    if run.demo:
        return EXIT_OK  # demo scores mean nothing: the rules are shown, not enforced
    return EXIT_OK if run.passed else EXIT_FAILED
