"""Text into the pieces Chatterbox's T3 speaks one at a time: sentences, and clauses of long ones.

T3's KV cache holds 1,536 positions per request: the voice's conditioning (~34), the piece's
text tokens (about one per character) and the speech tokens it writes (about 1.8 per character at
a normal pace, capped at 1,000). A piece of `MAX_PIECE_CHARS` fits with room to spare; a
2,000-character run-on sentence would not even fit its own text, and its speech would be cut.
"""

from __future__ import annotations

import re

MAX_PIECE_CHARS = 300  # ~20 s of speech: ~300 text + ~540 speech tokens, well inside the cache
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")
# Where a long sentence breaks most naturally, best first: after a clause mark, before a conjunction.
_CLAUSE_MARK = re.compile(r"[,;:\u2013\u2014)]\s+")
_CONJUNCTIONS = ("and", "but", "or", "so", "because", "which", "while", "when", "then", "although", "though",
                 "if", "that")
_CONJUNCTION = re.compile(rf"\s+(?=(?:{'|'.join(_CONJUNCTIONS)})\b)", re.I)
_SPACE = re.compile(r"\s+")


def split_sentences(text: str, max_chars: int = MAX_PIECE_CHARS) -> list[str]:
    """Sentences, with any longer than `max_chars` broken at clause boundaries."""
    sentences = [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]
    return [piece for sentence in sentences for piece in split_long(sentence, max_chars)]


def split_long(sentence: str, max_chars: int) -> list[str]:
    """`sentence` in pieces of at most `max_chars`, each cut at the most natural boundary available."""
    pieces, rest = [], sentence
    while len(rest) > max_chars:
        cut = _cut(rest[: max_chars + 1], shortest=max_chars // 3)
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return [*pieces, rest] if rest else pieces


def _cut(window: str, shortest: int) -> int:
    """Where to end the piece in `window`: the last boundary of the best kind past `shortest`."""
    for boundary in (_CLAUSE_MARK, _CONJUNCTION, _SPACE):
        ends = [m.end() for m in boundary.finditer(window)
                if shortest <= m.start() < len(window) - 1 and not _after_conjunction(window, m.start())]
        if ends:
            return ends[-1]
    return len(window) - 1  # one word longer than a piece: cut inside it rather than overflow


def _after_conjunction(text: str, position: int) -> bool:
    """Whether the word before `position` is a conjunction: "and | then" would strand the "and"."""
    before = text[:position].rsplit(maxsplit=1)
    return bool(before) and before[-1].lower() in _CONJUNCTIONS
