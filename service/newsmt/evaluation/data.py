"""What `newsmt eval` scores: local files, sacrebleu test sets (downloaded on first use), and
summarizer articles (local JSONL, or CNN/DailyMail through `datasets`). Errors name files,
fields and line numbers, never text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class DataError(ValueError):
    """The evaluation data cannot be read or fetched; the message says what to do."""


@dataclass(frozen=True)
class TestSet:
    """Parallel lines: sources and one reference each."""

    name: str  # a sacrebleu name, or "local"
    sources: list[str]
    references: list[str]


@dataclass(frozen=True)
class Articles:
    name: str
    articles: list[str]
    summaries: list[str]


def read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as UTF-8 text ({type(exc).__name__})") from None
    return text.splitlines()


def local_test_set(src: Path, ref: Path, limit: int | None) -> TestSet:
    sources, references = read_lines(src), read_lines(ref)
    if len(sources) != len(references):
        raise DataError(f"{src} has {len(sources)} lines, {ref} has {len(references)}")
    if not sources:
        raise DataError(f"{src} is empty")
    return TestSet("local", sources[:limit], references[:limit])


def sacrebleu_test_set(name: str, pair: str, limit: int | None) -> TestSet:
    """A sacrebleu test set for `pair` ("en-ru"), downloaded into $SACREBLEU (default
    ~/.sacrebleu) the first time; this needs network access."""
    from sacrebleu.dataset import DATASETS

    if name not in DATASETS:
        raise DataError(f"{name!r} is not a sacrebleu test set (see `sacrebleu --list`)")
    dataset = DATASETS[name]
    if pair not in dataset.langpairs:
        raise DataError(f"sacrebleu test set {name} has no {pair}")
    try:
        source: str = dataset.get_source_file(pair)  # type: ignore[no-untyped-call]
        references: list[str] = dataset.get_reference_files(pair)  # type: ignore[no-untyped-call]
    except (OSError, SystemExit) as exc:  # sacrebleu exits on some download errors
        raise DataError(
            f"could not download sacrebleu test set {name} ({type(exc).__name__}); it needs "
            "network access once (it is then kept under $SACREBLEU, default ~/.sacrebleu). "
            "Offline, pass local files with --src and --ref"
        ) from None
    test = local_test_set(Path(source), Path(references[0]), limit)
    return TestSet(name, test.sources, test.references)


def local_articles(path: Path, limit: int | None) -> Articles:
    """JSONL, one object per line with "article" and "highlights" (CNN/DailyMail's fields)."""
    articles, summaries = [], []
    for number, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}:{number}: not valid JSON") from None
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("article", "highlights")
        ):
            raise DataError(f"{path}:{number}: needs string fields 'article' and 'highlights'")
        articles.append(item["article"])
        summaries.append(item["highlights"])
        if limit is not None and len(articles) >= limit:
            break
    if not articles:
        raise DataError(f"{path}: no articles")
    return Articles(path.name, articles, summaries)


def cnn_dailymail(limit: int) -> Articles:
    """The CNN/DailyMail 3.0.0 test split through `datasets` (the `eval` extra; network)."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            "the CNN/DailyMail test set needs `datasets`: pip install 'newsmt[eval]', or pass "
            "local articles with --articles FILE"
        ) from None
    try:
        split = datasets.load_dataset("cnn_dailymail", "3.0.0", split=f"test[:{limit}]")
    except Exception as exc:
        raise DataError(
            f"could not load cnn_dailymail 3.0.0 ({type(exc).__name__}); it needs network "
            "access once. Offline, pass local articles with --articles FILE"
        ) from None
    return Articles(
        "cnn_dailymail-3.0.0-test",
        [str(a) for a in split["article"]],
        [str(h) for h in split["highlights"]],
    )
