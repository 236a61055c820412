"""Language-neutral cleanup: markdown to plain words, no emoji, pictographs or control characters.

Markdown is reduced to its words. Fenced code blocks are dropped; inline code keeps its
content up to ``INLINE_CODE_MAX`` chars. Headings, list items, table rows and paragraph
ends get a period (unless they end in punctuation) so the voice pauses between them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

INLINE_CODE_MAX = 40  # longer inline code is unreadable aloud, so it is dropped

Rule = tuple[re.Pattern[str], Any]  # (pattern, replacement string or function)


def apply_rules(rules: list[Rule], text: str) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


_FENCE = re.compile(r"```.*?(?:```|\Z)|^[ \t]*~~~.*?(?:^[ \t]*~~~[^\n]*$|\Z)", re.S | re.M)
_ASCII_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_DROP_CATEGORIES = frozenset({"So", "Sk", "Cs", "Co", "Cn", "Cf", "Me"})


@lru_cache(maxsize=8192)
def _char_out(ch: str) -> str:
    cp = ord(ch)
    if ch == "\n" or ch == "°" or cp == 0x200C:  # degrees are spoken; ZWNJ is orthographic
        return ch
    cat = unicodedata.category(ch)
    if cat in ("Zl", "Zp"):
        return "\n"
    if cat in ("Cc", "Zs"):
        return " "
    # pictographs, skin tones, ZWJ, keycaps, surrogates; variation selectors; arrows
    dropped = cat in _DROP_CATEGORIES or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF
    return "" if dropped or 0x2190 <= cp <= 0x21FF else ch


def strip_symbols(text: str) -> str:
    if text.isascii():
        return _ASCII_CONTROL.sub(" ", text)
    return "".join(map(_char_out, text))


_HR = re.compile(r"^(?:[-*_]\s*){3,}$|^=+$")
_TABLE_SEP = re.compile(r"^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?$")
_LINK_DEF = re.compile(r"^\[[^\]]+\]:\s*\S+")
_HEADING = re.compile(r"^#{1,6}(?:\s+|$)")
_HEADING_TAIL = re.compile(r"\s+#+$")
_QUOTE = re.compile(r"^(?:>\s?)+")
_BULLET = re.compile(r"^(?:[-*+•‣]|[0-9]{1,3}[.)])\s+(?:\[[ xX]\]\s+)?")
_ENDS_CLAUSE = re.compile(r"[.!?:;,…。！？][\"'”’)\]»]*$")


_INLINE_RULES: list[Rule] = [
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),  # backslash escapes
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)"), r"\1"),  # [label](url)
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [label][ref]
    (re.compile(r"\[\^?[0-9]{1,3}\]"), ""),  # citations and footnotes
    (re.compile(r"<((?:https?|ftp|mailto):[^\s>]+|[^\s@<>]+@[^\s@<>]+)>"), r"\1"),  # <autolink>
    (re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>"), " "),  # html tags
    (re.compile(r"`+([^`]*)`+"), lambda m: m.group(1) if len(m.group(1)) <= INLINE_CODE_MAX else ""),
    (re.compile(r"(?<=[0-9])\s*\*\s*(?=[0-9])"), " × "),  # "3 * 4" is arithmetic, not emphasis
    (re.compile(r"[*`]+|~~|(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])"), ""),  # emphasis markers
]


def markdown_to_text(text: str) -> str:
    lines: list[tuple[str, bool]] = []  # (text, is a block that should end with a pause)
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or _HR.match(line) or _TABLE_SEP.match(line):
            lines.append(("", False))  # paragraph break
            continue
        if _LINK_DEF.match(line):
            continue
        block = False
        if m := _HEADING.match(line):
            line, block = _HEADING_TAIL.sub("", line[m.end() :]), True
        line = _QUOTE.sub("", line)
        if m := _BULLET.match(line):
            line, block = line[m.end() :], True
        if line.startswith("|") or line.count("|") >= 2:
            cells = (c.strip() for c in line.strip("|").split("|"))
            line, block = ", ".join(c for c in cells if c), True
        lines.append((apply_rules(_INLINE_RULES, line).strip(), block))
    out: list[str] = []
    for i, (line, block) in enumerate(lines):
        if not line:
            continue
        paragraph_end = i + 1 < len(lines) and not lines[i + 1][0]
        if (block or paragraph_end) and not _ENDS_CLAUSE.search(line):
            line += "."
        out.append(line)
    return " ".join(out)


def strip_code_blocks(text: str) -> str:
    """Fenced code is never read aloud."""
    return _FENCE.sub("\n", text)
