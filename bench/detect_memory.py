#!/usr/bin/env python3
"""The resident memory language detection holds: lingua's served models, and what naming an
unserved language adds (CLD2, and lingua's small model of each language it confirms).

    python bench/detect_memory.py

Each figure is the rise of this process's resident memory (VmRSS) over the step before: the
served detector loaded and warmed; then every language lingua knows confirmed once (the worst
case: a server that has met text in every one of them).
"""

from __future__ import annotations


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


def main() -> int:
    from lingua import Language

    from newsmt.core import languages
    from newsmt.pipeline.detect import LanguageDetection

    start = rss_mib()
    detection = LanguageDetection()
    detection.identify("Warm up the served models.")
    served = rss_mib()
    codes = [lang.iso_code_639_1.name.lower() for lang in Language.all()]
    for code in codes:
        if code not in languages.SUPPORTED:
            detection._confirmed("Some text to confirm a language with.", code)
    every = rss_mib()
    print(f"lingua, the served languages (high accuracy), and CLD2: {served - start:.1f} MiB")
    print(f"naming, every one of {len(codes)} languages confirmed: +{every - served:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
