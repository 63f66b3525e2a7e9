"""`newsmt translate` and `newsmt summarize`: files, folders or stdin through a running server."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from newsmt.cli._tls import add_tls_flags, tls_from
from newsmt.cli.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

_INPUTS_HELP = "files, or folders of .txt, .html, .htm and .md files; '-' or nothing reads stdin"
#: Markup by file extension; anything else (stdin included) is plain unless --markup says.
_MARKUP_BY_SUFFIX = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}
_FOLDER_SUFFIXES = {".txt", *_MARKUP_BY_SUFFIX}


def register(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help=_INPUTS_HELP)
    common.add_argument(
        "--address", default="127.0.0.1:50051", help="server host:port (several: comma-separated)"
    )
    common.add_argument(
        "--from", dest="source", default="", help="source language (default: detect)"
    )
    common.add_argument("--timeout", type=float, default=120.0, help="deadline per input, seconds")
    common.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="text, or one JSON object per input",
    )
    common.add_argument("--token", default=None, help="bearer token, if the server requires one")
    common.add_argument(
        "--markup",
        choices=("plain", "html", "markdown"),
        default=None,
        help="how the input is written (default: by extension: .html/.htm html, .md markdown, "
        "else plain); markup is kept exactly and never translated",
    )
    add_tls_flags(common)

    translate = commands.add_parser(
        "translate",
        parents=[common],
        help="translate files or stdin",
        description="Translate each input with a running newsmt server (see `newsmt serve`). "
        "Paragraphs and line breaks are kept. Exit 1 if any input failed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    translate.add_argument(
        "--to", dest="target", required=True, help="target language: en, ru or es"
    )
    translate.add_argument(
        "--glossary",
        type=Path,
        default=None,
        help="TSV file, one term a line: source<TAB>target; an empty target keeps the term as "
        "written; blank lines and lines starting with # are skipped",
    )
    translate.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="TERM",
        help="keep TERM as written (a name, a brand); repeatable",
    )
    translate.add_argument(
        "--stream",
        action="store_true",
        help="print each sentence (with the markup before it) as soon as it is translated; "
        "with --format jsonl, one object per unit, then the input's usual object",
    )
    translate.set_defaults(run=run_translate)

    summarize = commands.add_parser(
        "summarize",
        parents=[common],
        help="summarize files or stdin",
        description="Summarize each input with a running newsmt server. The summary may be in "
        "another language than the input (--to). Exit 1 if any input failed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    summarize.add_argument(
        "--to", dest="target", default="", help="summary language (default: the input's)"
    )
    length = summarize.add_mutually_exclusive_group()
    length.add_argument("--max-tokens", type=int, default=None, help="summary length cap in tokens")
    length.add_argument(
        "--max-sentences", type=int, default=None, help="summary length cap in sentences"
    )
    summarize.add_argument(
        "--long-input",
        choices=("chunk", "truncate", "reject"),
        default="chunk",
        help="input longer than the summarizer's window: map-reduce over chunks, keep the first "
        "window only, or fail",
    )
    summarize.set_defaults(run=run_summarize)


def _inputs(paths: list[Path]) -> Iterator[tuple[str, str]]:
    """(name, text) per input, in order."""
    if not paths or paths == [Path("-")]:
        yield "<stdin>", sys.stdin.read()
        return
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.suffix.lower() in _FOLDER_SUFFIXES and file.is_file():
                    yield str(file), file.read_text(encoding="utf-8")
        else:
            yield str(path), path.read_text(encoding="utf-8")


def markup_of(name: str, override: str | None) -> str:
    """The input's format: --markup if given, else by the file's extension."""
    if override:
        return override
    return _MARKUP_BY_SUFFIX.get(Path(name).suffix.lower(), "plain")


def read_glossary(path: Path | None, keep: list[str]) -> dict[str, str]:
    """--glossary (TSV: source, tab, target; empty target = keep) and --keep terms."""
    terms: dict[str, str] = {}
    if path is not None:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            source, _, target = line.partition("\t")  # no tab: keep the term
            if not source.strip():
                raise ValueError(f"{path}:{number}: empty source term")
            terms[source.strip()] = target.strip()
    for term in keep:
        terms[term] = ""
    return terms


def _progress(items: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    if len(items) > 1 and sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, unit="doc", file=sys.stderr)
    else:
        yield from items


def _run(args: argparse.Namespace, work: Any) -> int:
    from newsmt.client import Client, NewsmtError

    try:
        items = list(_inputs(args.inputs))
    except OSError as exc:
        print(f"newsmt {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    failed = 0
    with Client(
        args.address, timeout=args.timeout, token=args.token, credentials=tls_from(args)
    ) as client:
        for name, text in _progress(items):
            try:
                record = work(client, text, markup_of(name, args.markup), name)
                streamed = getattr(args, "stream", False)
            except NewsmtError as exc:
                failed += 1
                print(f"newsmt {args.command}: {name}: {exc}", file=sys.stderr)
                if args.format == "jsonl":
                    print(
                        json.dumps(
                            {"input": name, "ok": False, "error": str(exc)}, ensure_ascii=False
                        )
                    )
                continue
            if args.format == "jsonl":
                print(
                    json.dumps({"input": name, "ok": True, **record}, ensure_ascii=False),
                    flush=True,
                )
            else:
                if record.get("demo"):
                    print("[demo model: meaningless output]", file=sys.stderr)
                if not streamed:
                    print(record["text"], flush=True)
    return EXIT_OK if not failed else EXIT_FAILED


def run_translate(args: argparse.Namespace) -> int:
    try:
        glossary = read_glossary(args.glossary, args.keep)
    except (OSError, ValueError) as exc:
        print(f"newsmt translate: --glossary: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def work(client: Any, text: str, markup: str, name: str = "") -> dict[str, Any]:
        if args.stream:
            result, streamed = _stream(client, args, text, markup, glossary, name)
        else:
            [result] = client.translate(
                [text], target=args.target, source=args.source, format=markup, glossary=glossary
            )
            streamed = None
        q = result.quality
        if args.format == "text":
            if result.missed_terms:
                print(
                    f"glossary terms not applied: {', '.join(result.missed_terms)}",
                    file=sys.stderr,
                )
            if q.flagged_sentences:
                print(
                    f"quality: {q.flagged_sentences} of {q.sentences} sentence(s) flagged: "
                    f"{', '.join(q.flags)}; check them before publishing",
                    file=sys.stderr,
                )
        return {
            "text": result.text if streamed is None else streamed,
            "format": markup,
            "source_language": result.detected_language.language,
            "confidence": result.detected_language.confidence,
            "models": list(result.route.models),
            "demo": result.route.demo,
            "output_truncated": result.output_truncated,
            "applied_terms": list(result.applied_terms),
            "missed_terms": list(result.missed_terms),
            "markup_degraded": result.markup_degraded,
            "quality": dataclasses.asdict(q),
            **({"cached_units": result.cached_units, "units": result.units} if streamed else {}),
        }

    return _run(args, work)


def _stream(
    client: Any,
    args: argparse.Namespace,
    text: str,
    markup: str,
    glossary: dict[str, str],
    name: str,
) -> tuple[Any, str]:
    """Translate one input with `translate_stream`, printing units as they arrive; returns
    its Translation (from SegmentDone) and the joined text."""
    from newsmt.client import SegmentDone, TranslatedUnit

    parts: list[str] = []
    result = None
    for event in client.translate_stream(
        [text], target=args.target, source=args.source, format=markup, glossary=glossary
    ):
        if isinstance(event, TranslatedUnit):
            parts.append(event.text)
            if args.format == "jsonl":
                unit = {
                    "input": name,
                    "unit": event.unit_index,
                    "source_start": event.source_start,
                    "source_end": event.source_end,
                    "text": event.text,
                    "cached": event.cached,
                }
                print(json.dumps(unit, ensure_ascii=False), flush=True)
            else:
                print(event.text, end="", flush=True)
        elif isinstance(event, SegmentDone):
            result = event.translation
    if args.format == "text":
        print(flush=True)
    if result is None:  # pragma: no cover - the server always sends SegmentDone
        raise RuntimeError("the stream ended without its SegmentDone")
    return result, "".join(parts)


def run_summarize(args: argparse.Namespace) -> int:
    def work(client: Any, text: str, markup: str, name: str = "") -> dict[str, Any]:
        result = client.summarize(
            text,
            target=args.target,
            source=args.source,
            max_tokens=args.max_tokens,
            max_sentences=args.max_sentences,
            long_input=args.long_input,
            format=markup,
        )
        h = result.input_handling
        return {
            "text": result.text,
            "language": result.language,
            "source_language": result.detected_language.language,
            "input_handling": {
                "mode": h.mode,
                "chunks": h.chunks,
                "input_tokens": h.input_tokens,
                "window_tokens": h.window_tokens,
                "dropped_tokens": h.dropped_tokens,
            },
            "models": list(result.route.models),
            "demo": result.route.demo,
            "faithfulness": dataclasses.asdict(result.faithfulness),
        }

    return _run(args, work)
