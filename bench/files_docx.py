#!/usr/bin/env python3
"""The file layer's own cost: a DOCX of N paragraphs read, cut into sentences and written back,
with no model involved. Run from the repository root (needs the dev extras: python-docx):

    .venv/bin/python bench/files_docx.py [--paragraphs 100] [--repeats 20]

Prints the median milliseconds of: open (unzip, tokenize, scan), cut (sentences for "en"),
write with identity outputs (nothing changed: the file comes back as it was), and write with
every unit changed (upper-cased, each word aligned to itself: every part re-emitted).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import docx

from newsmt.pipeline.documents import TokenLink, diagonal
from newsmt.pipeline.documents.files import open_file

SENTENCE = (
    "The {n}th council meeting approved the budget, said the mayor, "
    "and the **opposition** walked out before the vote."
)


def build(paragraphs: int) -> bytes:
    document = docx.Document()
    for n in range(paragraphs):
        p = document.add_paragraph()
        before, bold, after = SENTENCE.format(n=n).split("**")
        p.add_run(before)
        p.add_run(bold).bold = True
        p.add_run(after + " A second sentence follows it.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def upper(text: str) -> tuple[str, tuple[TokenLink, ...]]:
    return text.upper(), diagonal(text)


def median_ms(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    data = build(args.paragraphs)
    doc = open_file(data, file_name="bench.docx")
    units = sum(len(p.units) for p in doc.parts)
    same = [[(u.text, diagonal(u.text)) for u in p.units] for p in doc.parts]
    changed = [[upper(u.text) for u in p.units] for p in doc.parts]
    print(f"{args.paragraphs} paragraphs, {units} units, {len(data)} bytes")
    print(
        f"open:             {median_ms(lambda: open_file(data, file_name='b.docx'), args.repeats):7.1f} ms"
    )
    print(
        f"cut:              {median_ms(lambda: open_file(data, file_name='b.docx').parts, args.repeats):7.1f} ms (open included)"
    )
    print(f"write (identity): {median_ms(lambda: doc.write(same, 'ru'), args.repeats):7.1f} ms")
    print(f"write (changed):  {median_ms(lambda: doc.write(changed, 'ru'), args.repeats):7.1f} ms")


if __name__ == "__main__":
    main()
