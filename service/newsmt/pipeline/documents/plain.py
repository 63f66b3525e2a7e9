"""Plain text: hard-wrapped lines joined for the model, paragraphs and deliberate breaks kept.

Wire copy and e-mail wrap at 60-70 columns, so one sentence would otherwise reach the model as
two or three fragments. A line break inside a paragraph of wrapped lines is *soft*: the model
reads a space there, and the break is a void, put back in the translation where the alignment
places it (as `<br>` is in HTML), so the output keeps its line structure; the identity round
trip stays byte for byte. A line is taken as wrapped when it is long (`WRAPPED_SHARE` of its
paragraph's longest line, and at least `WRAPPED_MIN_CHARS`) and the next does not start a
list item: a headline above its story, an address or a list keeps its breaks. A blank line
always separates paragraphs.
"""

from __future__ import annotations

import itertools
import re

from newsmt.pipeline.documents.blocks import Block, Scanned

#: A wrapped line is at least this share of its paragraph's longest line ...
WRAPPED_SHARE = 0.6
#: ... and at least this many characters (a short line is a break that means something).
WRAPPED_MIN_CHARS = 30

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r|$)")
_BREAK = re.compile(r"\r\n|\n|\r")
_LIST_ITEM = re.compile(r"\s*(?:[-*+\u2022\u2013\u2014]\s|\d{1,3}[.)]\s|[a-zA-Z][.)]\s)")
#: Spaces around a soft break in a rendered translation: the break stands for one of them.
SOFT_BREAK_SPACE = re.compile(r"[ \t]*(\r\n|\n|\r)[ \t]*")


def soft_breaks(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each line break of `text` that joins two wrapped lines."""
    lines = [m for m in _LINE.finditer(text) if m.end() > m.start()]
    found: list[tuple[int, int]] = []
    paragraph: list[re.Match[str]] = []
    for line in [*lines, None]:
        if line is not None and line.group().strip():
            paragraph.append(line)
            continue
        width = max((len(p.group().rstrip()) for p in paragraph), default=0)
        for this, after in itertools.pairwise(paragraph):
            length = len(this.group().rstrip())
            wrapped = length >= WRAPPED_MIN_CHARS and length >= WRAPPED_SHARE * width
            if wrapped and not _LIST_ITEM.match(after.group()):
                newline = _BREAK.search(this.group())
                if newline is not None:
                    found.append((this.start() + newline.start(), this.start() + newline.end()))
        paragraph = []
    return found


def scan(text: str) -> Scanned:
    """Plain text as one block: soft breaks as voids the model reads as spaces (every other
    character as it is); each sentence is cut as its own block."""
    block = Block()
    at = 0
    for start, end in soft_breaks(text):
        block.text(text[at:start], at)
        block.void(text[start:end], start)
        block.atomic(" ", start, end)
        at = end
    block.text(text[at:], at)
    scanned = Scanned(text, each_own_block=True)
    scanned.block(block)
    return scanned
