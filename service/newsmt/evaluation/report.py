"""Write a `newsmt eval` run down: `report.json` (everything), `report.md` (for people; its
first line says DEMO when any model had random weights), `calibration.json` (Seq-Logprob
percentiles per model identity, which the server loads) and each engine's output."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsmt.evaluation.metrics import Rule
from newsmt.evaluation.runner import Run
from newsmt.models.calibration import CALIBRATION_NAME, write_calibration

DEMO_BANNER = (
    "DEMO: random-weight demo models (or the identity engine); every step ran, but the "
    "scores mean nothing"
)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_folder(root: Path, now: datetime | None = None) -> Path:
    """A new folder `root/<UTC timestamp>` (a suffix where one exists already)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    folder = root / stamp
    n = 1
    while folder.exists():
        n += 1
        folder = root / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    return folder


def as_json(run: Run) -> dict[str, Any]:
    return {
        "demo": run.demo,
        "passed": run.passed,
        "rules": [asdict(rule) for rule in run.rules],
        "pairs": run.pairs,
        "summarizer": run.summarizer,
        "models": {name: info.as_dict() for name, info in run.models.items()},
        "libraries": run.libraries,
        "settings": run.settings,
    }


def write_run(run: Run, root: Path) -> Path:
    folder = run_folder(root)
    (folder / "report.json").write_text(
        json.dumps(as_json(run), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    (folder / "report.md").write_text(markdown(run), encoding="utf-8")
    write_calibration(folder / CALIBRATION_NAME, run.calibration)
    for scope, systems in run.hypotheses.items():
        for name, lines in systems.items():
            path = folder / f"{_SAFE.sub('_', scope)}.{_SAFE.sub('_', name)}.txt"
            path.write_text("".join(line.replace("\n", " ") + "\n" for line in lines), "utf-8")
    return folder


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rule_line(rule: Rule, demo: bool) -> str:
    verdict = {True: "pass", False: "FAIL", None: "skipped (an engine did not run)"}[rule.passed]
    if demo and rule.passed is False:
        verdict += " (demo: not counted)"
    return f"| {rule.scope} | {rule.name} | {_num(rule.value)} | {rule.limit:+.2f} | {verdict} |"


def markdown(run: Run) -> str:
    lines = [f"# {DEMO_BANNER}" if run.demo else "# newsmt eval", ""]
    verdict = "PASSED" if run.passed else "FAILED"
    lines += [
        f"Pass rules: **{verdict}**" + (" (demo models: not counted)" if run.demo else ""),
        "",
    ]
    lines += ["| scope | rule | value | limit | result |", "|---|---|---|---|---|"]
    lines += [_rule_line(rule, run.demo) for rule in run.rules]
    for pair, result in run.pairs.items():
        lines += [
            "",
            f"## {pair} ({result['model']}, {result['test_set']}, {result['lines']} lines)",
            "",
        ]
        published = result["published"] or {}
        lines += [
            "| engine | BLEU (95% CI) | chrF | chrF++ | COMET | card BLEU/chrF | flagged | truncated | Seq-Logprob p1/p50 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, e in result["engines"].items():
            p = e["logprob_percentiles"]
            lines.append(
                f"| {name} | {_num(e['bleu']['score'])} ± {_num(e['bleu']['ci'])} | "
                f"{_num(e['chrf']['score'])} | {_num(e['chrf++']['score'])} | "
                f"{_num(e['comet'], 4)} | {_num(published.get('bleu'), 1)}/"
                f"{_num(published.get('chrf'), 1)} | {e['flagged_share']:.1%} | {e['truncated']} | "
                f"{_num(p.get('p1'))}/{_num(p.get('p50'))} |"
            )
        for label, delta in result["deltas"].items():
            lines.append(f"\n{label}: " + ", ".join(f"{k} {v:+.2f}" for k, v in delta.items()))
        for label, agree in result["agreement"].items():
            lines.append(f"\nexact match, {label}: {agree['exact_match']:.1%}")
        lines += ["", "Signatures:", ""]
        lines += [f"- `{sig}`" for sig in result["signatures"].values()]
    if run.summarizer is not None:
        s = run.summarizer
        lines += ["", f"## summarizer ({s['model']}, {s['articles']}, {s['count']} articles)", ""]
        lines += [
            "| engine | ROUGE-1 | ROUGE-2 | ROUGE-L | card R-2/R-L | unfaithful |",
            "|---|---|---|---|---|---|",
        ]
        for name, e in s["engines"].items():
            lines.append(
                f"| {name} | {_num(e['rouge1'])} | {_num(e['rouge2'])} | {_num(e['rougeL'])} | "
                f"{s['published']['rouge2']}/{s['published']['rougeL']} | {e['unfaithful_share']:.1%} |"
            )
        lines += ["", f"ROUGE tokenizer: {s['tokenizer']}."]
    lines += ["", "## Models", ""]
    for name, info in run.models.items():
        state = "demo" if info.demo else ("pinned" if info.pinned else "UNPINNED")
        lines.append(
            f"- {name}: {info.repo}@{info.revision} -> {info.commit} ({state}, {len(info.files)} files)"
        )
    lines += ["", "## Libraries", ""]
    lines += [f"- {k}: {v or 'not installed'}" for k, v in run.libraries.items()]
    lines += [
        "",
        f"Published scores: {next(iter(run.pairs.values()))['published_source']}"
        if run.pairs
        else "",
    ]
    return "\n".join(lines).rstrip() + "\n"
