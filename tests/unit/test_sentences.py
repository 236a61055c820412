import random
from collections.abc import Callable

import pytest

from agent_core.text import SentenceSplitter, speakable


def run(text: str, chunk: Callable[[], int] | None = None, **kwargs: object) -> list[str]:
    """Feed text to a fresh splitter (whole, or in chunks of chunk() chars) and flush."""
    splitter = SentenceSplitter(**kwargs)  # type: ignore[arg-type]
    out: list[str] = []
    if chunk is None:
        out += splitter.push(text)
    else:
        i = 0
        while i < len(text):
            n = chunk()
            out += splitter.push(text[i : i + n])
            i += n
    out += splitter.flush()
    assert splitter.pending == ""
    return out


def test_splits_sentences_and_makes_them_speakable() -> None:
    text = "Hello there! Dr. Smith will see you at 3:30 pm. The fee is $1.50, e.g. for this visit. Okay?"
    assert run(text) == [
        "Hello there!",
        "Doctor Smith will see you at three thirty P M.",
        "The fee is one dollar and fifty cents, for example for this visit.",
        "Okay?",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Smith and Mr. Jones met Mrs. Brown at St. Mary's.",
        "Use a fruit, e.g. an apple, or i.e. something sweet, etc. and more.",
        "The U.S. Army and the U.K. Navy met in Washington D.C. today.",
        "Pi is 3.14 and the fee is $1.50 but not 2.5 dollars.",
        "We open at 9 a.m. and close at 5 p.m. on weekdays.",
        "J. K. Rowling wrote it and J. R. R. Tolkien too.",
        "Visit https://example.com/a.b.html or mail bob.smith@example.co.uk for help.",
        "Wait... then what happened next in the story?",
        'He asked "why?" and left the room quietly.',
        "The version is 1.2.3 and the ip is 10.0.0.1 today.",
    ],
)
def test_no_split_inside_abbreviations_numbers_and_addresses(text: str) -> None:
    pieces = run(text, first_min_chars=None)
    assert pieces == [speakable(text)]


def test_waits_until_a_period_is_certain() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("Please call Dr.") == []
    assert splitter.pending == "Please call Dr."
    assert splitter.push(" Smith today. It costs 3.") == ["Please call Doctor Smith today."]
    assert splitter.pending == "It costs 3."  # "3." may still become "3.5"
    assert splitter.push("5 dollars. Is") == ["It costs three point five dollars."]
    assert splitter.pending == "Is"
    assert splitter.flush() == ["Is"]
    assert splitter.pending == ""


def test_period_followed_by_lowercase_is_not_an_end() -> None:
    splitter = SentenceSplitter(first_min_chars=None)
    assert splitter.push("It costs 3. ") == []
    assert splitter.push("and more. Next") == ["It costs three. and more."]


def test_question_and_exclamation_end_once_followed_by_space() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("Really?") == []
    assert splitter.push(" Yes") == ["Really?"]


def test_ellipsis() -> None:
    assert run("Wait... What? Yes.") == ["Wait...", "What? Yes."]
    assert run("Wait... what? Yes.") == ["Wait... what?", "Yes."]


def test_paragraph_and_list_lines_split() -> None:
    text = "# Title\nSome text here\n\nNext paragraph starts\n- item one is long enough\n- item two"
    assert run(text, min_chars=0) == [
        "Title.",
        "Some text here",
        "Next paragraph starts",
        "item one is long enough.",
        "item two.",
    ]


def test_soft_wrapped_line_is_not_split() -> None:
    assert run("This line wraps\nin the middle of a sentence.") == [
        "This line wraps in the middle of a sentence."
    ]


def test_first_piece_is_cut_early_at_a_clause() -> None:
    text = "I checked the calendar for next week, and it looks like Tuesday works. Shall I book it?"
    assert run(text) == [
        "I checked the calendar for next week,",
        "and it looks like Tuesday works.",
        "Shall I book it?",
    ]
    # the early cut needs first_min_chars characters; before that, commas are ignored
    assert run("Sure, Tuesday works, I think. Shall I book it?")[0] == "Sure, Tuesday works, I think."
    # only the first piece is cut early
    second = run("Okay. " + text)
    assert second[1] == "I checked the calendar for next week, and it looks like Tuesday works."


def test_first_piece_early_cut_can_be_disabled() -> None:
    text = "I checked the calendar for next week, and it looks like Tuesday works."
    assert run(text, first_min_chars=None) == [speakable(text)]
    assert run(text, first_min_chars=10)[0] == "I checked the calendar for next week,"


def test_short_sentences_are_merged_after_the_first() -> None:
    assert run("Hi. Ok. Sure. That works fine for me. Bye.") == [
        "Hi.",
        "Ok. Sure. That works fine for me.",
        "Bye.",
    ]
    assert run("Hi. Ok. Sure.", min_chars=0) == ["Hi.", "Ok.", "Sure."]


LONG = (
    "The quick brown fox jumps over the lazy dog while the cat watches from the fence, "
    "and the bird sings a song; meanwhile the farmer plows his field, which takes all day, "
    "and the sun sets slowly over the hills behind the old barn near the river where the "
    "children play every single evening without fail."
)


@pytest.mark.parametrize("max_chars", [40, 80, 150])
def test_long_sentence_split_at_clauses_within_max_chars(max_chars: int) -> None:
    pieces = run(LONG, max_chars=max_chars, min_chars=10, first_min_chars=None)
    assert len(pieces) > 1
    assert all(len(p) <= max_chars for p in pieces), pieces
    assert " ".join(pieces) == LONG  # nothing lost or reordered


def test_long_sentence_prefers_strong_clause_boundaries() -> None:
    pieces = run(LONG, max_chars=150, first_min_chars=None)
    assert pieces[0].endswith("and the bird sings a song;")
    assert pieces[1].startswith("meanwhile the farmer")


def test_long_sentence_without_punctuation_still_respects_max_chars() -> None:
    text = " ".join(["word"] * 100) + "."
    pieces = run(text, max_chars=50)
    assert all(len(p) <= 50 for p in pieces)
    assert " ".join(pieces) == text


def test_fenced_code_is_never_spoken() -> None:
    splitter = SentenceSplitter()
    out = splitter.push("Here you go:\n``")
    out += splitter.push("`python\nprint('Hi. There.')\n")
    assert "print" in splitter.pending  # held while the block is open
    out += splitter.push("```\nThat prints a greeting.")
    out += splitter.flush()
    assert out == ["Here you go:", "That prints a greeting."]


def test_unclosed_code_block_is_dropped_on_flush() -> None:
    assert run("Look at this. ```\nx = 1. Y = 2.\n") == ["Look at this."]


def test_pieces_without_words_are_not_emitted() -> None:
    assert run("😀😀. Hello there. !!! ... ---") == ["Hello there."]


def test_cjk_full_stops() -> None:
    assert run("你好。世界！", language="zh") == ["你好。", "世界！"]


def test_flush_returns_remainder_and_resets() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("First sentence here. And an unfinished") == ["First sentence here."]
    assert splitter.flush() == ["And an unfinished"]
    assert splitter.pending == ""
    # the next stream starts fresh: its first piece may be cut early again
    assert splitter.push("I checked the calendar for next week, and")[0] == (
        "I checked the calendar for next week,"
    )


def test_reset_drops_pending_text() -> None:
    splitter = SentenceSplitter()
    splitter.push("Never spoken because the user barged")
    splitter.reset()
    assert splitter.pending == ""
    assert splitter.flush() == []


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        SentenceSplitter(max_chars=0)
    with pytest.raises(ValueError):
        SentenceSplitter(min_chars=200, max_chars=100)
    with pytest.raises(ValueError):
        SentenceSplitter(first_min_chars=0)


STREAM_TEXTS = [
    "Hello there! Dr. Smith will see you at 3:30 pm. The price is $1.50, e.g. this one. "
    "Visit https://example.com/a.b for more. Okay.",
    "Sure! Let me check that for you, because the schedule changed last week. "
    "It is open until 5 p.m. Then it closes.",
    LONG,
    "Here is code:\n```python\nprint('hi. There')\n```\nThat was it. Bye.",
    "# Title\n- first item\n- second item\n1. Step one\n2. Step two\n\nDone now.",
    "He lives near the U.S. Army base. Wait... what? Really. It costs 3.5 dollars.",
]


@pytest.mark.parametrize("text", STREAM_TEXTS)
def test_chunking_does_not_change_the_result(text: str) -> None:
    whole = run(text)
    assert run(text, chunk=lambda: 1) == whole
    rng = random.Random(7)
    for _ in range(20):
        assert run(text, chunk=lambda: rng.randint(1, 8)) == whole


FRAGMENTS = [
    "Hello there!", " Dr. Smith", " will see you", " at 3:30 pm.", " The price is $1.50,",
    " e.g. this one.", " Visit https://example.com/a.b", " for more.", " Okay.", "\n", "\n\n",
    "- item one", "1. Step", " 3.5", " U.S.", " Army", " Wait...", " what?", " Really.",
    "```python\nx = 1. Y\n```", " `a. B`", " [Dr. X. Y](http://a.b)", ", and then", "; however",
    " — well", " because", " although it", " word word word", " 😀", " Mr.", " No. 5", " etc.",
    " The", " end", ".", "!", "?", " ", "**Bold.**", " “Quote.”", " 你好。", "世界！",
    " a long clause without any punctuation that keeps going and going on and on",
]
CONFIGS: list[dict[str, object]] = [
    {},
    {"max_chars": 60, "min_chars": 10, "first_min_chars": 15},
    {"first_min_chars": None},
    {"min_chars": 0, "max_chars": 40},
]


def test_chunking_does_not_change_the_result_property() -> None:
    rng = random.Random(2024)
    for _ in range(300):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 30)))
        config = rng.choice(CONFIGS)
        whole = run(text, **config)
        assert run(text, chunk=lambda: 1, **config) == whole, text
        assert run(text, chunk=lambda: rng.randint(1, 9), **config) == whole, text


def test_fuzz_never_raises() -> None:
    rng = random.Random(4321)
    alphabet = "ab C.!?…。\n ,;:—-`[]()*_#$3"
    for _ in range(300):
        splitter = SentenceSplitter(max_chars=rng.randint(1, 80), min_chars=0)
        for _ in range(rng.randint(0, 30)):
            delta = "".join(
                chr(rng.randint(0, 0x10FFFF)) if rng.random() < 0.2 else rng.choice(alphabet)
                for _ in range(rng.randint(0, 6))
            )
            for piece in splitter.push(delta):
                assert piece and any(c.isalnum() for c in piece)
        splitter.flush()
        assert splitter.pending == ""
