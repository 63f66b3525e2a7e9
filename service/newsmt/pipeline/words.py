"""What counts as a word, for the checks that count words: the quality signals (`quality`) and
the faithfulness of summaries (`faithfulness`) must agree on it."""

from __future__ import annotations

import re

#: A run of letters and digits: underscores and punctuation separate words.
WORD = re.compile(r"[^\W_]+")
