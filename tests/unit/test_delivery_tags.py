"""Stage directions are never read aloud; words that only look like them stay."""

from __future__ import annotations

import pytest

from agent_core.text.delivery_tags import delivery_tags, strip_delivery_tags
from agent_core.text.speakable import speakable


@pytest.mark.parametrize(
    ("text", "spoken", "tags"),
    [
        ("Oh [laughs] that's funny.", "Oh that's funny.", ["laughs"]),
        ("*sighs* Fine.", "Fine.", ["sighs"]),
        ("Well <laugh> okay", "Well okay", ["laugh"]),
        ("Hmm (clears throat) yes", "Hmm yes", ["clears throat"]),
        ("[whispering] a secret", "a secret", ["whispering"]),
        ("See [1], *really* and (see above)", "See [1], *really* and (see above)", []),
        ("Be *humble*, *crystal* clear, *clearly*", "Be *humble*, *crystal* clear, *clearly*", []),
        ("[laughter] Yes. [excited] Let's go!", "Yes. Let's go!", ["laughter", "excited"]),
        ("I'm *excited* (happy, really)", "I'm *excited* (happy, really)", []),
    ],
)
def test_tags_are_dropped_and_words_kept(text, spoken, tags):
    assert (strip_delivery_tags(text), delivery_tags(text)) == (spoken, tags)


def test_the_conversation_path_drops_them_too():
    assert speakable("Sure [laughs], I can do 2 things *sighs*") == "Sure, I can do two things"
