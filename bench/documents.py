"""(g) Markup overhead: the seed article as HTML, and as a Word file, vs the same text as
plain, through the real server (a child process, default settings: CTranslate2 int8 where
converted) on the demo en->ru model, one request at a time, interleaved. The HTML has a <p>
per paragraph, a <b> on each paragraph's first word and a link on its last; the DOCX (made
with python-docx) a paragraph each, its first word a bold run and its last an italic one. So
the model sees the same sentences; what HTML adds is the parse, the alignment (CTranslate2's
attention), projecting the tags and putting the document back together, and what the DOCX
adds besides is the zip and its XML parts, read and written (`TranslateDocument`).
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import Any

from common import SEEDS, median, timed
from loadgen import newsmt_server, wait_until_loaded

log = logging.getLogger("bench.documents")


def as_html(text: str) -> str:
    """`text` with each paragraph in <p>, its first word bold and its last word a link."""
    paragraphs = []
    for block in text.split("\n\n"):
        words = html.escape(" ".join(block.split()), quote=False).split(" ")
        if not words or words == [""]:
            continue
        if len(words) > 2:
            words[0] = f"<b>{words[0]}</b>"
            words[-1] = f'<a href="https://example.com/story?p={len(paragraphs)}">{words[-1]}</a>'
        paragraphs.append("<p>" + " ".join(words) + "</p>")
    return "\n".join(paragraphs)


def as_docx(text: str) -> bytes:
    """`text` as a Word file: a paragraph per block, its first word bold, its last italic."""
    import io

    import docx

    document = docx.Document()
    for block in text.split("\n\n"):
        words = " ".join(block.split()).split(" ")
        if words == [""]:
            continue
        paragraph = document.add_paragraph()
        if len(words) > 2:
            paragraph.add_run(words[0]).bold = True
            paragraph.add_run(" " + " ".join(words[1:-1]) + " ")
            paragraph.add_run(words[-1]).italic = True
        else:
            paragraph.add_run(" ".join(words))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def run(model_dir: Path, repeats: int, log_dir: Path) -> dict[str, Any]:
    from newsmt.client import Client
    from newsmt.pipeline.documents import parse

    plain = next(iter(sorted(SEEDS.glob("*.txt")))).read_text(encoding="utf-8")
    # The same words, collapsed as HTML collapses them, so the two carry the same sentences.
    plain = "\n\n".join(" ".join(block.split()) for block in plain.split("\n\n") if block.strip())
    marked = as_html(plain)
    word = as_docx(plain)
    sentences = [u.text for u in parse(plain, "plain", "en").units if u.needs_model]
    html_sentences = [u.text for u in parse(marked, "html", "en").units if u.needs_model]
    times: dict[str, list[float]] = {"plain": [], "html": [], "docx": []}
    units = 0
    with (
        timed("(g) start the server"),
        newsmt_server("newsmt-documents", model_dir, log_dir) as server,
    ):
        wait_until_loaded(server)
        with Client(server.address, timeout=900) as client:
            for fmt, text in (("plain", plain), ("html", marked)):  # warm-up, not counted
                client.translate([text], source="en", target="ru", format=fmt)  # type: ignore[arg-type]
            client.translate_document(word, target="ru", source="en", file_name="a.docx")
            for repeat in range(repeats):
                for fmt, text in (("plain", plain), ("html", marked), ("docx", "")):
                    began = time.perf_counter()
                    if fmt == "docx":
                        done = client.translate_document(
                            word, target="ru", source="en", file_name="article.docx"
                        )
                        units = done.units
                    else:
                        [out] = client.translate([text], source="en", target="ru", format=fmt)  # type: ignore[arg-type]
                    times[fmt].append(time.perf_counter() - began)
                    log.info("(g) %s repeat %d: %.1f s", fmt, repeat + 1, times[fmt][-1])
                    if fmt == "html":
                        degraded = out.markup_degraded
    plain_s, html_s = median(times["plain"]), median(times["html"])
    docx_s = median(times["docx"])
    return {
        "model": "opus-mt-en-ru",
        "sentences": len(sentences),
        "html_sentences": len(html_sentences),
        "tags": marked.count("<") // 2,
        "plain_s": round(plain_s, 3),
        "html_s": round(html_s, 3),
        "overhead": round(html_s / plain_s - 1, 4),
        "docx_units": units,
        "docx_s": round(docx_s, 3),
        "docx_overhead": round(docx_s / plain_s - 1, 4),
        "markup_degraded": degraded,
        "repeats": repeats,
    }
