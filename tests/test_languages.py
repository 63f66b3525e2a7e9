"""Naming the language: a text in a language no route reads is refused with its name, in every
RPC that detects; text in the served languages is never refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from newsmt.client import Client, InvalidArgumentError
from newsmt.pipeline.detect import LanguageDetection

ROOT = Path(__file__).resolve().parent.parent
UNSERVED = [
    tuple(line.split("\t"))
    for line in (ROOT / "tests/data/languages/unserved.tsv")
    .read_text(encoding="utf-8")
    .splitlines()
    if line and not line.startswith("#")
]
NAMES = {"de": "German", "fr": "French", "zh": "Chinese"}


@pytest.fixture(scope="module")
def detection() -> LanguageDetection:
    return LanguageDetection()


def served_sentences() -> list[tuple[str, str]]:
    """This repository's English prose (README, docs, the seed article) and the demo corpora in
    English, Spanish and Russian, a sentence at a time, as written (markup and code included):
    text nobody wrote to please the detector."""
    found: list[tuple[str, str]] = []
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    sources += sorted((ROOT / "seeds").glob("*.txt"))
    for path in sources:
        for paragraph in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            found += [("en", s) for s in re.split(r"(?<=[.!?])\s+", paragraph) if s.strip()]
    corpus = ROOT / "service/newsmt/models/demo_corpus"
    for code in ("en", "es", "ru"):
        lines = (corpus / f"{code}.txt").read_text(encoding="utf-8").splitlines()
        found += [(code, line) for line in lines if line.strip()]
    return found


def test_text_in_the_served_languages_is_never_named_another(detection: LanguageDetection) -> None:
    sentences = served_sentences()
    assert len(sentences) > 500
    refused = [
        (code, text, found)
        for code, text in sentences
        if (found := detection.identify(text)).code and not found.served
    ]
    assert refused == []
    # Short texts that close languages share letters with stay served too.
    short = (
        "Министр ушёл в отставку во вторник.",  # CLD2: Macedonian, reliably
        "Министр ушёл в отставку.",  # CLD2: Abkhazian, which lingua cannot confirm
        "Банк повысил ставку.",
        "В Москве прошёл митинг.",
        "Llueve en Madrid.",
        "Hello.",
        "Radio Habana Cuba",  # CLD2: Malay
    )
    for text in short:
        assert detection.identify(text).served, text


def test_unserved_languages_are_named(detection: LanguageDetection) -> None:
    assert len({code for code, _ in UNSERVED}) >= 15
    for code, text in UNSERVED:
        found = detection.identify(text)
        assert (found.code, found.served) == (code, False), text
        assert found.name and found.name != found.code
    # The quality signals still get a served language for any text (they judge outputs).
    assert detection.detect(UNSERVED[0][1])[0] in {"en", "ru", "es"}


@pytest.mark.parametrize("code", ["de", "fr", "zh"])
def test_every_detecting_rpc_refuses_an_unserved_language_by_name(
    identity_client: Client, code: str
) -> None:
    text = next(t for c, t in UNSERVED if c == code)
    name = NAMES[code]
    calls = {
        "Translate": lambda: identity_client.translate([text], target="ru"),
        "TranslateStream": lambda: list(identity_client.translate_stream([text], target="ru")),
        "Summarize": lambda: identity_client.summarize(text, target="en"),
        "ProcessArticle": lambda: identity_client.process_article("", text, targets=["ru"]),
    }
    for rpc, call in calls.items():
        with pytest.raises(InvalidArgumentError) as refused:
            call()
        message = str(refused.value)
        assert f"{name} ({code}" in message and "Russian (ru)" in message, (rpc, message)
    # Detection itself tells the truth.
    [detected] = identity_client.detect_language([text])
    assert detected.language == code
    # Told the source, the server translates as asked (the identity engine: unchanged).
    [copied] = identity_client.translate([text], source="en", target="ru")
    assert copied.text == text


def test_the_language_detectors_stay_under_150_mib(tmp_path: Path) -> None:
    """CLD2 and a confirming model for every unserved language this test set holds, loaded in a
    fresh process, over the served detector alone: the resident memory they add."""
    script = (
        "from newsmt.pipeline.detect import LanguageDetection\n"
        "def rss():\n"
        "    status = open('/proc/self/status').read()\n"
        "    return int(status.split('VmRSS:')[1].split()[0]) / 1024\n"
        "d = LanguageDetection(); d.identify('Warm up the served models.')\n"
        "before = rss()\n"
        f"for code, text in {UNSERVED!r}:\n"
        "    assert d.identify(text).code == code\n"
        "print(rss() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 150, out.stdout
