#!/usr/bin/env python3
"""How much memory one CTranslate2 engine call holds while it decodes, per position.

    python bench/decode_memory.py --out bench/results/decode_memory.json

The opus-mt-en-ru shape, int8, beam 4, on the full-size demo model (built if missing): one
`translate_batch` per shape (rows x input tokens, output forced to its bound), each in a fresh
process so that no earlier call's freed memory hides this one's. Reported: the rise of peak
resident memory (VmHWM) over the resident memory before the call, and that rise per position,
rows x (input + output): the quantity `--max-batch-tokens` budgets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import ROOT, ensure_models

#: (rows, input tokens, output bound): short news sentences, and the longest seed sentence.
SHAPES = [(8, 40, 90), (16, 40, 90), (32, 40, 90), (4, 135, 280), (8, 135, 280)]

_CHILD = """
import sys, ctranslate2
from newsmt.engines.hf_tokenizer import tokenizer_class
def status(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
rows, width, bound = (int(x) for x in sys.argv[3:6])
translator = ctranslate2.Translator(sys.argv[1], compute_type="int8", intra_threads=2)
tokenizer = tokenizer_class(__import__("pathlib").Path(sys.argv[2])).from_pretrained(sys.argv[2])
words = tokenizer.convert_ids_to_tokens(list(range(100, 100 + width - 1))) + ["</s>"]
open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM to the current RSS
before = status("VmRSS:")
translator.translate_batch([words] * rows, beam_size=4, max_decoding_length=bound,
                           min_decoding_length=bound, max_input_length=0)
print((status("VmHWM:") - before) / 1024)
"""


def measure(ct2: Path, tokenizer: Path, rows: int, width: int, bound: int) -> float:
    argv = [sys.executable, "-c", _CHILD, str(ct2), str(tokenizer), str(rows), str(width)]
    out = subprocess.run([*argv, str(bound)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def run(model_dir: Path) -> dict[str, Any]:
    """Every shape in `SHAPES` measured once, each in a fresh process; the median cost per
    position is what the memory target of `bench/run.py` and docs/OPERATIONS.md's sizing
    formula use."""
    model = ensure_models(model_dir.resolve())["opus-mt-en-ru"]
    results = []
    for rows, width, bound in SHAPES:
        mib = measure(model.ct2["int8"], model.path, rows, width, bound)
        positions = rows * (width + bound)
        kib = mib * 1024 / positions
        results.append(
            {
                "rows": rows,
                "input": width,
                "output": bound,
                "positions": positions,
                "peak_rise_mib": round(mib, 1),
                "kib_per_position": round(kib, 1),
            }
        )
        print(f"{rows:3d} rows x ({width} + {bound}): +{mib:6.1f} MiB, {kib:5.1f} KiB a position")
    median = statistics.median(r["kib_per_position"] for r in results)
    print(f"median: {median:.1f} KiB a position")
    return {
        "model": "opus-mt-en-ru int8, beam 4",
        "shapes": results,
        "median_kib_per_position": median,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/decode_memory.json")
    args = parser.parse_args()
    found = run(args.model_dir)
    args.out.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
