"""SentenceSplitter: cut a streamed LLM reply into speakable pieces as early as is safe.

A piece is emitted only when its end is certain from text already received: a period
needs the next non-space character (so "Dr." + " Smith", "3." + "5", "e.g." + " this"
are never split), and clause cuts in long sentences look at most ``_LOOKAHEAD``
characters past ``max_chars``. So the pieces never depend on how the stream was chunked:
char-by-char, token deltas and the whole text at once give the same result.

Defaults (all keyword-only):

* ``first_min_chars=32``: the first piece of a stream may end at a clause boundary
  (, ; : —) once it has at least 32 characters, so the first audio starts early.
  ``None`` disables this and the first piece is a whole sentence.
* ``min_chars=20``: after the first piece, sentences shorter than this are merged with
  the next one (fewer, more natural TTS requests). The last piece may be shorter.
* ``max_chars=150``: a longer piece is cut at the best boundary before it (a sentence
  end, then ; : —, then ", and"-style, then a comma, then before a conjunction, then any
  space), so no piece is longer than this unless a single word is.

Lengths are counted on the text as received, before ``speakable()`` (which may expand
"$5" to "five dollars"). Other sentence ends: "?" and "!" (not before a lowercase word),
ellipses, CJK full stops, blank lines, and line breaks after headings/list items or
before a capitalized line (a line break before a lowercase word is a soft wrap).

Fenced code blocks (```) are held until they close and are never spoken. Pieces go
through ``speakable()`` (``normalize=False``: only their delivery tags are removed); pieces
left without letters or digits are dropped. Each piece is a ``Sentence``: a str that also
carries the delivery tags ("[laughs]") it had, so a backend may act them out; the tags of a
dropped piece go with the next one.
"""

from __future__ import annotations

import re

from agent_core.text.delivery_tags import delivery_tags, strip_delivery_tags
from agent_core.text.speakable import speakable

__all__ = ["Sentence", "SentenceSplitter"]

_LOOKAHEAD = 12  # chars past max_chars a clause cut may look at (", although" fits)
_FENCE = "```"
_OPENERS = "*_\"'“‘([`"  # markup that may sit between a sentence end and the next word
# terminal punctuation + closing quotes/markup + whitespace; CJK full stops need no space
_END = re.compile(r"([.!?…‼⁇⁈⁉]+)([\"'”’)\]»*_`]*)(\s+)|([。！？]+)([\"'”’)\]»」』]*)")
_NEWLINE = re.compile(r"[ \t]*\n\s*")
_BLOCK_LINE = re.compile(r"[ \t]*(?:#{1,6}\s|[-*+•]\s|[0-9]{1,3}[.)]\s|>|\|)")
_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]")  # "e.g", "u.s", "a.m" before the final period
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof st sr jr mt vs etc inc ltd corp co approx cf fig vol gen capt sgt "
    "rev est dept univ ave blvd jan feb mar apr jun jul aug sep sept oct nov dec ph.d".split()
)
_CLAUSE_STRONG = re.compile(r"[;:](?=\s)|(?<=\s)[–-](?=\s)|—")
_CLAUSE_COMMA = re.compile(r",(?=\s)")
_CONJUNCTIONS = r"(?:and|but|or|so|yet|because|which|while|although|though|whereas)\b"
_AFTER_COMMA_CONJ = re.compile(r"\s+" + _CONJUNCTIONS, re.I)
_BEFORE_CONJ = re.compile(r"\s(?=" + _CONJUNCTIONS + ")", re.I)
_SPACE = re.compile(r"\s")


def _inside_span(text: str, pos: int) -> bool:
    """True if pos is inside an open [link label] or `inline code` on its line."""
    segment = text[text.rfind("\n", 0, pos) + 1 : pos]
    return segment.count("[") > segment.count("]") or segment.count("`") % 2 == 1


def _period_ends_sentence(text: str, dot: int, nxt: str, line_start: bool) -> bool:
    start = dot
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:dot].lstrip(_OPENERS)
    low = word.lower()
    if low in _ABBREVIATIONS or _DOTTED.fullmatch(low):
        return False
    if low == "no" and nxt.isdigit():  # "No. 5"
        return False
    if len(word) == 1 and word.isupper():  # an initial: "J. K. Rowling"
        return False
    line_prefix = text[:start].rstrip(" \t")
    if word.isdigit() and (line_prefix.endswith("\n") or (not line_prefix and line_start)):
        return False  # numbered list marker "1. "
    return True


class Sentence(str):
    """A speakable piece (a plain str to everything that only reads words) plus its delivery tags."""

    tags: tuple[str, ...]

    def __new__(cls, text: str, tags: tuple[str, ...] = ()) -> Sentence:
        sentence = super().__new__(cls, text)
        sentence.tags = tags
        return sentence


def sentence_tags(sentence: str) -> tuple[str, ...]:
    """The delivery tags a piece had (none for a plain str)."""
    return getattr(sentence, "tags", ())


class SentenceSplitter:
    """Streaming splitter: ``push(delta)`` per LLM delta, ``flush()`` at end of stream."""

    def __init__(
        self,
        *,
        min_chars: int = 20,
        max_chars: int = 150,
        first_min_chars: int | None = 32,
        language: str = "en",
        normalize: bool = True,
    ) -> None:
        if max_chars < 1 or min_chars < 0 or min_chars > max_chars:
            raise ValueError("need 0 <= min_chars <= max_chars and max_chars >= 1")
        if first_min_chars is not None and first_min_chars < 1:
            raise ValueError("first_min_chars must be >= 1 or None")
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.first_min_chars = first_min_chars
        self.language = language
        self.normalize = normalize
        self._tags: tuple[str, ...] = ()  # from pieces dropped as unspeakable, for the next piece
        self._buf = ""
        self._emitted = False  # has this stream produced a piece yet?
        self._line_start = True  # does the buffer start at the beginning of a line?

    @property
    def pending(self) -> str:
        """Raw text received but not yet emitted (what would go unspoken if cut off now)."""
        return self._buf

    def push(self, delta: str) -> list[Sentence]:
        """Add an LLM delta; return the pieces whose end is now certain."""
        self._buf += delta
        return self._drain(final=False)

    def flush(self) -> list[Sentence]:
        """End of stream: return the remaining pieces and reset for the next stream."""
        out = self._drain(final=True)
        self.reset()
        return out

    def reset(self) -> None:
        """Drop buffered text (e.g. on barge-in) and start a new stream."""
        self._buf = ""
        self._tags = ()
        self._emitted = False
        self._line_start = True

    # -- internals -------------------------------------------------------------------

    def _drain(self, final: bool) -> list[Sentence]:
        out: list[Sentence] = []
        while True:
            rest = self._buf.lstrip()
            if "\n" in self._buf[: len(self._buf) - len(rest)]:
                self._line_start = True
            self._buf = rest
            fence = self._buf.find(_FENCE)
            if fence == 0:  # code block: wait for its end, then drop it unspoken
                close = self._buf.find(_FENCE, len(_FENCE))
                if close < 0:
                    if final:
                        self._buf = ""
                    break
                self._buf = self._buf[close + len(_FENCE) :]
                continue
            region = self._buf if fence < 0 else self._buf[:fence]
            cut = self._next_cut(region, final or fence > 0) if region else None
            if not cut:  # None, or 0 which can only mean a bug: never loop forever
                break
            # everything between pieces is whitespace, so the rest starts right at the cut
            piece, self._buf, self._line_start = self._buf[:cut], self._buf[cut:], False
            spoken = speakable(piece, language=self.language) if self.normalize else strip_delivery_tags(piece)
            self._tags += tuple(delivery_tags(piece))
            if any(c.isalnum() for c in spoken):
                out.append(Sentence(spoken, self._tags))
                self._tags = ()
                self._emitted = True
        return out

    def _next_cut(self, text: str, final: bool) -> int | None:
        """Where the next piece of text (which starts with a non-space) ends, if certain."""
        limit = self.max_chars
        ends = self._sentence_ends(text, final)
        chosen: int | None
        if not self._emitted:
            chosen = ends[0] if ends else None
            early = self._early_cut(text)
            if early is not None and (chosen is None or early < chosen):
                chosen = early
        else:  # merge short sentences: the first end that makes a long enough piece
            chosen = next((e for e in ends if e >= self.min_chars), None)
        if chosen is None and final:
            chosen = len(text)
        if chosen is not None and chosen <= limit:
            return chosen
        # Too long (or no end yet and already long): cut at the best boundary, but only
        # once every candidate up to max_chars can be judged from text already here.
        if not final and len(text) < limit + _LOOKAHEAD:
            return None
        clause = self._clause_cut(text, limit, [e for e in ends if e <= limit])
        if clause is not None:
            return clause
        # a single word runs past max_chars: end the piece right after it
        space = _SPACE.search(text, limit)
        return space.start() if space else chosen

    def _sentence_ends(self, text: str, final: bool) -> list[int]:
        """Positions right after each sentence/line end in text that is already certain."""
        found: set[int] = set()
        for m in _END.finditer(text):
            if m.group(4) is not None:  # CJK: closers may still follow
                if m.end() < len(text) or final:
                    found.add(m.end())
                continue
            cut, nxt = m.end(2), m.end()
            if "\n" not in m.group(3):
                while nxt < len(text) and text[nxt] in _OPENERS:
                    nxt += 1
                if nxt >= len(text):
                    if not final:
                        continue  # cannot tell yet what follows
                elif text[nxt].islower():
                    continue  # 'he asked "why?" and left', "e.g. this", "wait... what"
                elif set(m.group(1)) <= {".", "…"} and not _period_ends_sentence(
                    text, m.start(1), text[nxt], self._line_start
                ):
                    continue
            if not _inside_span(text, cut):
                found.add(cut)
        for m in _NEWLINE.finditer(text):
            cut, resume = m.start(), m.end()
            if cut == 0 or cut in found:
                continue
            if resume >= len(text):
                if final:
                    found.add(cut)
                continue
            paragraph = m.group(0).count("\n") > 1
            block = _BLOCK_LINE.match(text, text.rfind("\n", 0, cut) + 1) is not None
            if paragraph or block or not text[resume].islower():  # not a soft wrap
                found.add(cut)
        return sorted(found)

    def _early_cut(self, text: str) -> int | None:
        if self.first_min_chars is None:
            return None
        candidates = [m.end() for m in _CLAUSE_STRONG.finditer(text)]
        candidates += [m.end() for m in _CLAUSE_COMMA.finditer(text)]
        for pos in sorted(candidates):
            if pos >= self.first_min_chars and not _inside_span(text, pos):
                return pos
        return None

    def _clause_cut(self, text: str, limit: int, ends: list[int]) -> int | None:
        """Best cut at or before limit: a sentence end, a clause boundary, else a space."""
        window = text[: limit + _LOOKAHEAD]  # never look further: keeps cuts chunk-independent
        strong = [m.end() for m in _CLAUSE_STRONG.finditer(window)]
        commas = [m.end() for m in _CLAUSE_COMMA.finditer(window)]
        comma_conj = [p for p in commas if _AFTER_COMMA_CONJ.match(window, p)]
        conj = [m.start() for m in _BEFORE_CONJ.finditer(window)]
        spaces = [m.start() for m in _SPACE.finditer(window)]
        tiers = (ends, strong, comma_conj, commas, conj)
        # prefer a good boundary that leaves a piece of reasonable size, then any boundary
        for lowest, options in ((limit // 3, tiers), (1, (*tiers, spaces))):
            for tier in options:
                good = [p for p in tier if lowest <= p <= limit and not _inside_span(window, p)]
                if good:
                    return max(good)
        return None
