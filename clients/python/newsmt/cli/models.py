"""`newsmt models`: list, pull (which writes the lock), verify, make-demo and convert."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from newsmt.cli.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE


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
    _register_pull(sub, common)
    _register_others(sub, common)


def _register_pull(sub: Any, common: argparse.ArgumentParser) -> None:
    pull = sub.add_parser(
        "pull",
        parents=[common],
        help="download real weights from the Hugging Face hub",
        description="Download each model's files (safetensors preferred; never code) at the "
        "registry's pinned revision. Honours HF_HUB_OFFLINE, HF_ENDPOINT and HF_TOKEN.",
    )
    pull.add_argument("names", nargs="*", help="registry names (default: all)")
    pull.add_argument(
        "--convert", action="store_true", help="also convert to CTranslate2 (see `convert`)"
    )
    pull.add_argument(
        "--pin",
        action="store_true",
        help="also write a copy of the registry with each pulled model's revision set to the "
        "commit it resolved to",
    )
    pull.add_argument(
        "--pin-out",
        type=Path,
        default=None,
        help="where --pin writes the registry copy (default: --model-dir/registry.pinned.toml)",
    )
    pull.set_defaults(run=run_pull)


def _register_others(sub: Any, common: argparse.ArgumentParser) -> None:
    """`verify`, `make-demo` and `convert`."""
    verify = sub.add_parser(
        "verify",
        parents=[common],
        help="check pulled files against the lock (sha256)",
        description="Hash every file of each pulled model and compare it with --model-dir/"
        "newsmt.lock, which `pull` writes. Prints each difference; exits 1 if any model "
        "differs, 0 if all match. Models without a lock entry are listed, not failed.",
    )
    verify.add_argument("names", nargs="*", help="registry names (default: all)")
    verify.set_defaults(run=run_verify)

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
    demo.add_argument(
        "--convert", action="store_true", help="also convert to CTranslate2 (see `convert`)"
    )
    demo.set_defaults(run=run_make_demo)

    convert = sub.add_parser(
        "convert",
        parents=[common],
        help="convert models to CTranslate2 (the fast engine)",
        description="Convert each model on disk (real weights if pulled, else the demo model) "
        'to a CTranslate2 model under --model-dir/ct2/. With engine = "auto" in the '
        "registry, the server then uses CTranslate2 for it. The compute type defaults to the "
        'registry\'s ("auto": int8 on CPU, int8_float16 on CUDA).',
    )
    convert.add_argument("names", nargs="*", help="registry names (default: all)")
    convert.add_argument(
        "--compute-type",
        default=None,
        help="int8, int8_float32, int8_float16, float16, bfloat16 or float32 (default: the registry's)",
    )
    convert.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help='what "auto" resolves for'
    )
    convert.add_argument("--force", action="store_true", help="convert again even if present")
    convert.set_defaults(run=run_convert)


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


def _with_models(
    command: Callable[[argparse.Namespace, Any, list[Any]], int],
) -> Callable[[argparse.Namespace], int]:
    """Resolve --model-dir, --registry and the names for a subcommand; bad ones exit 2."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            _, store, specs = _setup(args)
        except ValueError as exc:
            print(f"newsmt models: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return command(args, store, specs)

    return run


def _configure_logging() -> None:
    from newsmt.server.logs import configure

    configure("text", "INFO")


@_with_models
def run_list(args: argparse.Namespace, store: Any, specs: list[Any]) -> int:
    print(f"model dir: {store.root}")
    from newsmt.models.registry import resolve_compute_type

    print(f"{'name':<22} {'task':<14} {'pair':<6} {'files':<11} {'ctranslate2':<12} repo@revision")
    for spec in specs:
        local = store.locate(spec)
        files = "missing" if local is None else ("demo" if local.demo else "real")
        if local is not None and local.demo:
            files = f"demo-{store.demo_size(spec)}"
        compute = resolve_compute_type(spec, "cpu")
        ct2 = compute if local is not None and store.is_converted(local, compute) else "-"
        print(
            f"{spec.name:<22} {spec.task:<14} {spec.source}>{spec.target:<3} {files:<11} {ct2:<12} "
            f"{spec.repo}@{spec.revision}"
        )
    return EXIT_OK


@_with_models
def run_pull(args: argparse.Namespace, store: Any, specs: list[Any]) -> int:
    _configure_logging()
    failed = 0
    locked = {}
    for spec in specs:
        try:
            path = store.pull(spec)
            locked[spec.name] = store.lock_entry(spec, path)
        except Exception as exc:
            failed += 1
            print(f"newsmt models pull: {spec.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        print(f"{spec.name}: {path} (commit {locked[spec.name].commit})")
    if locked:
        print(f"lock: {store.record(locked)} ({len(locked)} model(s) recorded)")
    if args.pin and locked:
        failed += _write_pinned(args, store, {n: e.commit for n, e in locked.items()})
    if args.convert and not failed:
        return _convert_all(store, specs, None, "cpu", force=False)
    return EXIT_OK if not failed else EXIT_FAILED


def _write_pinned(args: argparse.Namespace, store: Any, commits: dict[str, str]) -> int:
    """Write the pinned registry copy; 1 on failure (said on stderr), else 0."""
    from newsmt.models.pin import PinError, pin_registry
    from newsmt.models.registry import DEFAULT_REGISTRY

    source = args.registry or DEFAULT_REGISTRY
    target = args.pin_out or store.root / "registry.pinned.toml"
    try:
        pinned = pin_registry(source.read_text(encoding="utf-8"), commits)
    except (OSError, PinError) as exc:
        print(f"newsmt models pull --pin: {exc}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(pinned, encoding="utf-8")
    print(f"pinned registry: {target} (serve with --registry {target})")
    return 0


@_with_models
def run_verify(args: argparse.Namespace, store: Any, specs: list[Any]) -> int:
    from newsmt.models.lock import LockError, verify_hashes

    try:
        entries = store.read_lock()
    except LockError as exc:
        print(f"newsmt models verify: {exc}", file=sys.stderr)
        return EXIT_FAILED
    bad = 0
    unlocked = []
    for spec in specs:
        entry = entries.get(spec.name)
        if entry is None:
            unlocked.append(spec.name)
            continue
        local = store.locate(spec)
        if local is None or local.demo:
            problems = [f"no pulled files for {spec.repo}@{spec.revision} in {store.root}"]
        else:
            problems = verify_hashes(local.path, entry)
            if entry.repo != spec.repo:
                problems.insert(0, f"the lock pins repo {entry.repo}, the registry {spec.repo}")
        if problems:
            bad += 1
            for problem in problems:
                print(f"{spec.name}: {problem}")
        else:
            print(f"{spec.name}: ok ({len(entry.files)} files, commit {entry.commit})")
    if unlocked:
        print(f"no lock entry (not pulled with `newsmt models pull`): {', '.join(unlocked)}")
    if bad:
        print(
            f"newsmt models verify: {bad} model(s) differ from {store.lock_file}", file=sys.stderr
        )
    return EXIT_FAILED if bad else EXIT_OK


@_with_models
def run_make_demo(args: argparse.Namespace, store: Any, specs: list[Any]) -> int:
    _configure_logging()
    print("Building DEMO models: random weights, meaningless output.", file=sys.stderr)
    for spec in specs:
        if not args.force and store.demo_size(spec) == args.size:
            print(f"{spec.name}: already built ({store.demo_path(spec)})")
            continue
        path = store.make_demo(spec, size=args.size)
        print(f"{spec.name}: {path}")
    if args.convert:
        return _convert_all(store, specs, None, "cpu", force=args.force)
    return EXIT_OK


@_with_models
def run_convert(args: argparse.Namespace, store: Any, specs: list[Any]) -> int:
    _configure_logging()
    return _convert_all(store, specs, args.compute_type, args.device, force=args.force)


def _convert_all(
    store: Any, specs: list[Any], compute_type: str | None, device: str, *, force: bool
) -> int:
    from newsmt.models.convert import QUANTIZATIONS
    from newsmt.models.registry import resolve_compute_type

    if compute_type is not None and compute_type not in QUANTIZATIONS:
        print(
            f"newsmt models convert: --compute-type must be one of {', '.join(QUANTIZATIONS)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    failed = 0
    for spec in specs:
        local = store.locate(spec)
        if local is None:
            failed += 1
            print(
                f"newsmt models convert: {spec.name}: no model files; pull or make-demo first",
                file=sys.stderr,
            )
            continue
        wanted = compute_type or resolve_compute_type(spec, device)
        if store.is_converted(local, wanted) and not force:
            print(f"{spec.name}: already converted ({store.ct2_path(local, wanted)})")
            continue
        try:
            path = store.convert(local, wanted)
        except Exception as exc:
            failed += 1
            print(
                f"newsmt models convert: {spec.name}: {type(exc).__name__}: {exc}", file=sys.stderr
            )
            continue
        print(f"{spec.name}: {path} ({wanted}{', demo' if local.demo else ''})")
    return EXIT_OK if not failed else EXIT_FAILED
