"""The scores `newsmt eval` reports, the published scores it compares them with, and its pass
rules. Corpus BLEU, chrF and chrF++ come from sacrebleu (with paired-bootstrap 95% intervals);
ROUGE is computed here, on a Unicode tokenizer."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The test set `newsmt eval` uses per direction when none is named: the newest WMT news set on
#: which the opus-mt model card publishes a score, so that each measured score has a published
#: one beside it (research notes, quality.md section 2). sacrebleu also has wmt20-wmt24 for the
#: ru pairs and wmt24 for en-es (general-domain sets from 2022 on); name them with --test-set.
DEFAULT_TEST_SETS = {"en-ru": "wmt19", "ru-en": "wmt19", "en-es": "wmt13", "es-en": "wmt13"}

#: Published scores, BLEU and chrF (0-100), per (direction, sacrebleu test set). Source: the
#: Helsinki-NLP/opus-mt-{en-ru,ru-en,en-es,es-en} model cards on the Hugging Face hub (their
#: README "Benchmarks" tables: newstest2019-enru 27.1/0.533, newstest2018-enru 25.4/0.554,
#: newstest2019-ruen 31.4/0.576, newstest2013 en-es 35.0/0.598, newstest2012 en-es 39.0/0.625,
#: newstest2013 es-en 35.3/0.609, newstest2012 es-en 37.9/0.624), as collected in
#: ../shared/research/quality.md section 2. They were computed with 2020-era Marian and
#: sacrebleu: expect small offsets.
PUBLISHED: dict[tuple[str, str], dict[str, float]] = {
    ("en-ru", "wmt19"): {"bleu": 27.1, "chrf": 53.3},
    ("en-ru", "wmt18"): {"bleu": 25.4, "chrf": 55.4},
    ("ru-en", "wmt19"): {"bleu": 31.4, "chrf": 57.6},
    ("en-es", "wmt13"): {"bleu": 35.0, "chrf": 59.8},
    ("en-es", "wmt12"): {"bleu": 39.0, "chrf": 62.5},
    ("es-en", "wmt13"): {"bleu": 35.3, "chrf": 60.9},
    ("es-en", "wmt12"): {"bleu": 37.9, "chrf": 62.4},
}
#: The sshleifer/distilbart-cnn-12-6 model card: CNN/DailyMail test, ROUGE-2 21.26 and ROUGE-L
#: 30.59 (rougeL, not rougeLsum; no ROUGE-1 given). quality.md section 2.
PUBLISHED_SUMMARIZER = {"rouge2": 21.26, "rougeL": 30.59}
PUBLISHED_SOURCE = "Hugging Face model cards (research notes: quality.md, section 2)"

#: Pass rules (issue 12; CTranslate2's README measures int8 at -0.27 BLEU on CPU).
MAX_INT8_DROP = 0.5  # BLEU and chrF, int8 vs float32, each
MAX_CT2_TRANSFORMERS_GAP = 0.2  # BLEU, CTranslate2 float32 vs transformers float32
MAX_SUMMARY_INT8_DROP = 0.5  # ROUGE-2, summarizer int8 vs float32

INT8, FLOAT32, TRANSFORMERS = "ct2-int8", "ct2-float32", "transformers-float32"

_WORD = re.compile(r"[^\W_]+")


# -- corpus metrics (sacrebleu) ------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One metric for one system: the corpus score, the bootstrap mean and 95% half-width, and
    the p-value against the baseline system (None for the baseline itself)."""

    score: float
    mean: float | None
    ci: float | None
    p_value: float | None = None


METRIC_KEYS = {"BLEU": "bleu", "chrF2": "chrf", "chrF2++": "chrf++"}


def corpus_scores(
    systems: Sequence[tuple[str, Sequence[str]]],
    references: Sequence[str],
    *,
    target: str,
    samples: int = 1000,
) -> tuple[dict[str, str], dict[str, dict[str, Scored]]]:
    """BLEU, chrF and chrF++ of each system, with sacrebleu's paired bootstrap (the first
    system is the baseline). Returns the signatures by metric key, and the scores by system
    then metric key ("bleu", "chrf", "chrf++")."""
    from sacrebleu.metrics.bleu import BLEU
    from sacrebleu.metrics.chrf import CHRF
    from sacrebleu.significance import PairedTest

    metrics: dict[str, Any] = {
        "BLEU": BLEU(trg_lang=target),
        "chrF2": CHRF(),
        "chrF2++": CHRF(word_order=2),
    }
    test = PairedTest(
        [(name, list(hyps)) for name, hyps in systems],
        metrics,
        [list(references)],
        test_type="bs",
        n_samples=samples,
    )
    signatures, table = test()
    names = [str(n) for n in table["System"]]
    out: dict[str, dict[str, Scored]] = {name: {} for name in names}
    for metric, results in table.items():
        if metric == "System":
            continue
        key = METRIC_KEYS.get(metric, metric)
        for name, result in zip(names, results, strict=True):
            assert not isinstance(result, str)
            out[name][key] = Scored(
                float(result.score),
                None if result.mean is None else float(result.mean),
                None if result.ci is None else float(result.ci),
                None if result.p_value is None else float(result.p_value),
            )
    sigs = {METRIC_KEYS.get(k, k): f"{k}|{v.format()}" for k, v in signatures.items()}
    return sigs, out


def exact_match(a: Sequence[str], b: Sequence[str]) -> float:
    """The share of lines two systems translated identically."""
    if len(a) != len(b):
        raise ValueError("exact_match needs outputs of the same length")
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else 1.0


# -- ROUGE (Unicode-aware) -----------------------------------------------------------------------


def rouge_tokens(text: str) -> list[str]:
    """Casefolded NFC words (runs of letters, marks and digits). rouge_score's tokenizer
    keeps only [a-z0-9], deleting every Cyrillic letter; this one keeps every script. No
    stemming (rouge_score's cards use Porter), so English scores run a little lower than a
    stemmed ROUGE; the int8 vs float32 comparison is unaffected."""
    return _WORD.findall(unicodedata.normalize("NFC", text).casefold())


def _f1(overlap: int, hyp_total: int, ref_total: int) -> float:
    if overlap == 0 or hyp_total == 0 or ref_total == 0:
        return 0.0
    precision, recall = overlap / hyp_total, overlap / ref_total
    return 2 * precision * recall / (precision + recall)


def rouge_n(hypothesis: Sequence[str], reference: Sequence[str], n: int) -> float:
    """ROUGE-N F1 of two token lists."""

    def grams(tokens: Sequence[str]) -> Counter[tuple[str, ...]]:
        return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))

    hyp, ref = grams(hypothesis), grams(reference)
    return _f1(sum((hyp & ref).values()), sum(hyp.values()), sum(ref.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F1 (the longest common subsequence over the whole text: rougeL, not rougeLsum)."""
    return _f1(lcs_length(hypothesis, reference), len(hypothesis), len(reference))


def corpus_rouge(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1 over the documents, on a 0-100 scale."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError("corpus_rouge needs as many hypotheses as references, at least one")
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for hyp_text, ref_text in zip(hypotheses, references, strict=True):
        hyp, ref = rouge_tokens(hyp_text), rouge_tokens(ref_text)
        totals["rouge1"] += rouge_n(hyp, ref, 1)
        totals["rouge2"] += rouge_n(hyp, ref, 2)
        totals["rougeL"] += rouge_l(hyp, ref)
    return {k: 100 * v / len(hypotheses) for k, v in totals.items()}


# -- pass rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One pass rule as checked: `passed` is None where an engine it compares did not run."""

    name: str
    scope: str  # a direction ("en-ru") or "summarizer"
    value: float | None
    limit: float
    passed: bool | None


def _delta(scores: Mapping[str, Mapping[str, float]], a: str, b: str, key: str) -> float | None:
    if a not in scores or b not in scores:
        return None
    return round(scores[a][key] - scores[b][key], 6)


def check_rules(
    translation: Mapping[str, Mapping[str, Mapping[str, float]]],
    summarizer: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Rule]:
    """The pass rules on measured scores: `translation` maps a direction to engine names to
    {"bleu", "chrf"}; `summarizer` maps engine names to {"rouge2"}.

    - int8 vs float32 (CTranslate2): BLEU and chrF each drop by at most MAX_INT8_DROP;
    - CTranslate2 float32 vs transformers float32: BLEU within MAX_CT2_TRANSFORMERS_GAP;
    - summarizer int8 vs float32: ROUGE-2 drops by at most MAX_SUMMARY_INT8_DROP.
    """
    rules = []
    for pair, scores in translation.items():
        for key in ("bleu", "chrf"):
            delta = _delta(scores, INT8, FLOAT32, key)
            passed = None if delta is None else delta >= -MAX_INT8_DROP
            rules.append(Rule(f"int8 - float32 {key}", pair, delta, -MAX_INT8_DROP, passed))
        gap = _delta(scores, FLOAT32, TRANSFORMERS, "bleu")
        passed = None if gap is None else abs(gap) <= MAX_CT2_TRANSFORMERS_GAP
        rules.append(Rule("ct2 - transformers bleu", pair, gap, MAX_CT2_TRANSFORMERS_GAP, passed))
    if summarizer is not None:
        delta = _delta(summarizer, INT8, FLOAT32, "rouge2")
        passed = None if delta is None else delta >= -MAX_SUMMARY_INT8_DROP
        rules.append(
            Rule("int8 - float32 rouge2", "summarizer", delta, -MAX_SUMMARY_INT8_DROP, passed)
        )
    return rules


def rules_pass(rules: Sequence[Rule]) -> bool:
    """True unless a rule that was checked failed."""
    return all(rule.passed is not False for rule in rules)
