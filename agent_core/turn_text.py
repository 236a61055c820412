"""Text end-of-turn cues: does the transcript so far read like a finished message?

Cheap syntactic cues come first: no message ends on an article, a preposition,
a conjunction or a possessive ("ask not what your country can do for", "of
my"), nor on a trailing "..." that Whisper writes for speech that trails off.
The language model's view (P of its end-of-turn token after the partial user
message) comes from the LLM backend where it offers one; see
`LanguageModel.end_of_turn_probability`.
"""

from __future__ import annotations

import re

# Words after which a sentence (almost) never ends, per language, lower case: articles,
# prepositions, conjunctions, possessives, fillers. Words that often end a short answer
# are left out on purpose ("I can", "turn it on", "I called her", "I think so").
_DANGLING_EN = """
a an the to of for with from at by into onto between during without within than and or but nor
because if when while although though unless whether whose my your his its our their every very
um uh er erm
"""
_DANGLING_FR = """
le la les un une des du de d l à au aux en dans sur sous pour par avec sans chez vers et ou mais
donc car que qui quand si mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs ce cet
cette ces est sont euh
"""
_DANGLING_DE = """
der die das den dem des ein eine einen einem einer eines zu von mit für auf in an aus bei nach
über unter vor und oder aber denn weil dass wenn ob mein meine meinen dein deine sein seine ihr
ihre unser unsere euer eure ist sind äh ähm
"""
_DANGLING_ES = """
el la los las un una unos unas a de del al en con por para sin sobre entre y o pero porque que si
cuando mi mis tu tus su sus nuestro nuestra es son eh este
"""
DANGLING_WORDS: dict[str, frozenset[str]] = {
    language: frozenset(words.split())
    for language, words in {"en": _DANGLING_EN, "fr": _DANGLING_FR, "de": _DANGLING_DE, "es": _DANGLING_ES}.items()
}

# What the cues say, as a probability that the message is complete, on the scale of the
# language model's own P(end): SmolLM2-135M gives ~0.0001-0.001 mid-clause and 0.01-0.9 at
# the end of a message, as it spreads its guesses over many continuations.
DANGLING_COMPLETE_PROBABILITY = 0.0  # a dangling function word: the speaker is mid-clause
TRAILING_OFF_COMPLETE_PROBABILITY = 0.001  # "...", "-" or ",": Whisper heard the speech trail off

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)


def last_word(text: str) -> str | None:
    words = _WORD.findall(text)
    return words[-1].lower() if words else None


def syntactic_complete_probability(text: str, language: str = "en") -> float | None:
    """P(complete) from the transcript's last word and punctuation; None when they say nothing."""
    stripped = text.rstrip()
    if not stripped:
        return None
    word = last_word(stripped)
    dangling = DANGLING_WORDS.get(language.split("-")[0].lower(), DANGLING_WORDS["en"])
    if word is not None and word in dangling and not stripped.endswith(("?", "!")):
        return DANGLING_COMPLETE_PROBABILITY
    if stripped.endswith(("...", "…", "-", "—", ",")):
        return TRAILING_OFF_COMPLETE_PROBABILITY
    return None


def text_for_scoring(text: str) -> str:
    """The transcript as a language model should see it: without Whisper's closing punctuation,
    which it adds to fragments too (so "." would say "complete" for every cut)."""
    return text.strip().rstrip(".!?…,;:- ").strip()
