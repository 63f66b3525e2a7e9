"""`newsmt models`: list, pull, make-demo (and convert, for CTranslate2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from newsmt.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "models",
        help="list, download or build models",
        description="Manage the models in the registry (the built-in one, or --registry). Files "
        "live under --model-dir: real weights in the Hugging Face cache layout, demo models "
        "under demo/, CTranslate2 conversions under ct2/.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--model-dir", type=Path, default=None, help="default: models, or $NEWSMT_MODEL_DIR"
    )
    common.add_argument(
        "--registry", type=Path, default=None, help="registry TOML (default: built-in)"
    )
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", parents=[common], help="show each model and what is on disk")
    ls.set_defaults(run=run_list)

    pull = sub.add_parser(
        "pull",
        parents=[common],
        help="download real weights from the Hugging Face hub",
        description="Download each model's files (safetensors preferred; never code) at the "
        "registry's pinned revision. Honours HF_HUB_OFFLINE, HF_ENDPOINT and HF_TOKEN.",
    )
    pull.add_argument("names", nargs="*", help="registry names (default: all)")
    pull.set_defaults(run=run_pull)

    demo = sub.add_parser(
        "make-demo",
        parents=[common],
        help="build random-weight demo models (no network)",
        description="Build demo models: the real models' architecture, config and tokenizer "
        "files with random weights. They load and run exactly like the real ones, but their "
        "output is meaningless; the server marks them as demo everywhere.",
    )
    demo.add_argument("names", nargs="*", help="registry names (default: all)")
    demo.add_argument(
        "--size",
        choices=("full", "tiny"),
        default="full",
        help="full: the real shapes; tiny: for tests",
    )
    demo.add_argument("--force", action="store_true", help="rebuild even if present")
    demo.set_defaults(run=run_make_demo)


def _setup(args: argparse.Namespace) -> tuple[Any, Any, list[Any]]:
    from newsmt.models.registry import Registry
    from newsmt.models.store import ModelStore
    from newsmt.server.settings import Settings

    settings = Settings.load({"model_dir": args.model_dir, "registry": args.registry})
    registry = Registry.load(settings.registry)
    names = getattr(args, "names", None) or list(registry.models)
    unknown = [n for n in names if n not in registry.models]
    if unknown:
        raise ValueError(
            f"not in the registry: {', '.join(unknown)} (known: {', '.join(registry.models)})"
        )
    return registry, ModelStore(settings.model_dir), [registry.models[n] for n in names]


def _configure_logging() -> None:
    from newsmt.server.logs import configure

    configure("text", "INFO")


def run_list(args: argparse.Namespace) -> int:
    try:
        _, store, specs = _setup(args)
    except ValueError as exc:
        print(f"newsmt models: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"model dir: {store.root}")
    print(f"{'name':<22} {'task':<14} {'pair':<6} {'files':<12} repo@revision")
    for spec in specs:
        local = store.locate(spec)
        files = "missing" if local is None else ("demo" if local.demo else "real")
        if local is not None and local.demo:
            files = f"demo-{store.demo_size(spec)}"
        print(
            f"{spec.name:<22} {spec.task:<14} {spec.source}>{spec.target:<3} {files:<12} "
            f"{spec.repo}@{spec.revision}"
        )
    return EXIT_OK


def run_pull(args: argparse.Namespace) -> int:
    _configure_logging()
    try:
        _, store, specs = _setup(args)
    except ValueError as exc:
        print(f"newsmt models: {exc}", file=sys.stderr)
        return EXIT_USAGE
    failed = 0
    for spec in specs:
        try:
            path = store.pull(spec)
        except Exception as exc:
            failed += 1
            print(f"newsmt models pull: {spec.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        print(f"{spec.name}: {path}")
    return EXIT_OK if not failed else EXIT_FAILED


def run_make_demo(args: argparse.Namespace) -> int:
    _configure_logging()
    try:
        _, store, specs = _setup(args)
    except ValueError as exc:
        print(f"newsmt models: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print("Building DEMO models: random weights, meaningless output.", file=sys.stderr)
    for spec in specs:
        if not args.force and store.demo_size(spec) == args.size:
            print(f"{spec.name}: already built ({store.demo_path(spec)})")
            continue
        path = store.make_demo(spec, size=args.size)
        print(f"{spec.name}: {path}")
    return EXIT_OK
