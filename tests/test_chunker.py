"""Speakable chunks from streamed text: a table of English and Chinese edge cases."""

from __future__ import annotations

import pytest

from runtime.dialogue.chunker import Chunker, chunk_text, speakable
from runtime.dialogue.emotion import Emotion, tag


def stream(text: str, step: int):
    return list(chunk_text([text[i:i + step] for i in range(0, len(text), step)]))


CASES = [
    ("Pi is 3.14 today. Next.", ["Pi is 3.14 today.", "Next."]),
    ("Dr. Smith will see you. Thanks.", ["Dr. Smith will see you.", "Thanks."]),
    ("Bring water, e.g. a bottle. Done.", ["Bring water, e.g. a bottle.", "Done."]),
    ("We open at 10:30 a.m. every day. See you!", ["We open at 10:30 a.m. every day.", "See you!"]),
    ("J. K. Rowling wrote it. Yes.", ["J. K. Rowling wrote it.", "Yes."]),
    ("It costs 1,000 dollars in total, which is a lot. Sorry.",
     ["It costs 1,000 dollars", "in total, which is a lot.", "Sorry."]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ('He said "Stop!" Then left.', ['He said "Stop!"', "Then left."]),
    ("你好，欢迎来到博物馆！今天是星期一。", ["你好，", "欢迎来到博物馆！", "今天是星期一。"]),
    ("我们下午三点关门；请注意安全。", ["我们下午", "三点关门；", "请注意安全。"]),
    ("门票价格是3.5元。谢谢！", ["门票价格是", "3.5元。", "谢谢！"]),
    ("展览从上午9:30开始，到下午五点结束，欢迎参观。", ["展览从上午", "9:30开始，", "到下午五点结束，", "欢迎参观。"]),
    ("Sure! Here is **bold** and a [map](http://x.y/z). Visit https://example.com now.",
     ["Sure!", "Here is bold and a map.", "Visit now."]),
    ("Steps:\n- take the lift\n- turn left", ["Steps:", "take the lift", "turn left"]),
    ("Code:\n```python\nprint(1.5)\n```\nDone. 😀 Great 👍", ["Code:", "Done.", "Great"]),
    ("# Welcome\nHello there.", ["Welcome", "Hello there."]),
]


@pytest.mark.parametrize("text, expected", CASES)
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_chunks_whatever_the_token_boundaries(text, expected, step):
    assert stream(text, step) == expected


def test_first_chunk_goes_out_early_at_a_clause_but_later_ones_wait_for_the_sentence():
    text = "The museum opens at nine, and the cafe opens later, so you can have breakfast first."
    assert stream(text, 2) == ["The museum opens at nine,",
                               "and the cafe opens later, so you can have breakfast first."]


@pytest.mark.parametrize("text, first", [
    ("I'm here to help you find your way and answer any questions about the venue.",
     "I'm here to help you find your way"),
    ("Well I think that the best place for you would be the garden near the lake today.",
     "Well I think that the best place"),
    ("The cafe is on the second floor next to the shop.", "The cafe is on the second floor"),
])
@pytest.mark.parametrize("step", [1, 4, 1000])
def test_the_voice_starts_on_the_first_phrase_of_a_long_sentence(text, first, step):
    """With no comma in sight, the first chunk is the first phrase of a few words (not the whole
    sentence), cut between phrases, never after "the", "your" or "would"."""
    chunks = stream(text, step)
    assert chunks[0] == first and " ".join(chunks) == text


@pytest.mark.parametrize("text, chunks", [
    ("你好，世界。我是米娅，很高兴见到你，欢迎！", ["你好，", "世界。", "我是米娅，", "很高兴见到你，", "欢迎！"]),
    ("天、地和宇宙是玄皇所掌管的，这是开头。", ["天、地和宇宙", "是玄皇所掌管的，", "这是开头。"]),
    # A title's closing mark ends the first words (the bench's answer waited 1.5 s for Kokoro to say
    # all nineteen characters up to the comma).
    ("《周易·乾卦》中讲的“天地玄皇宇宙”，就是这样。", ["《周易·乾卦》", "中讲的“天地玄皇宇宙”，", "就是这样。"]),
    ("你好我是米娅，很高兴。", ["你好我是米娅，", "很高兴。"]),
    ("好，请跟我来。", ["好，请跟我来。"]),
    ("You said: 你好", ["You said: 你好"]),  # English words before a colon are read by the Chinese voice too
])
@pytest.mark.parametrize("step", [1, 2, 3, 1000])
def test_a_chinese_answer_starts_on_its_first_short_clause_or_words(text, chunks, step):
    """Kokoro takes about 0.1 s a character on two cores: a first chunk of twelve characters kept
    the answer's first sound ~0.9 s behind the model's first one ("天、地和宇宙是玄皇所掌管的，").
    It ends at the first clause of two characters or more; a clause of eight or more ends where a
    word does once four long (never inside a word, never where the next word may still grow). Every
    later chunk ends at a clause too: Kokoro makes speech hardly faster than it is said while the
    model writes beside it, and a sentence-long second chunk left a 0.5-1.5 s gap after a short first."""
    assert stream(text, step) == chunks


def test_a_short_opening_clause_is_not_cut():
    assert stream("Hi, there. Ok.", 1) == ["Hi, there.", "Ok."]


def test_speakable_drops_what_cannot_be_said():
    assert speakable("**Note**: see `config.toml` at https://x.io 🙂") == "Note: see config.toml at"


@pytest.mark.parametrize("text, emotion", [
    ("Welcome! We are so happy to see you!", Emotion.HAPPY),
    ("Wow, really?", Emotion.SURPRISED),
    ("I am sorry, the museum is closed today.", Emotion.CONCERNED),
    ("That is a terrible tragedy.", Emotion.SAD),
    ("This is unacceptable!", Emotion.ANGRY),
    ("The exhibit is on floor two.", Emotion.NEUTRAL),
    ("太好了，欢迎你！", Emotion.HAPPY),
    ("很遗憾，今天闭馆。", Emotion.CONCERNED),
    ("这个东西很差，令人失望。", Emotion.SAD),
    ("展厅在二楼。", Emotion.NEUTRAL),
])
def test_emotion_of_a_chunk(text, emotion):
    tagged = tag(text)
    assert tagged.emotion == emotion
    assert 0.0 <= tagged.intensity <= 1.0
    assert (tagged.intensity > 0) == (emotion != Emotion.NEUTRAL)


def test_persona_bias_colours_neutral_lines_only():
    biased = tag("The exhibit is on floor two.", Emotion.HAPPY, 0.3)
    assert (biased.emotion, biased.intensity) == (Emotion.HAPPY, 0.3)
    assert tag("I am sorry, it is closed.", Emotion.HAPPY).emotion == Emotion.CONCERNED


@pytest.mark.parametrize("step", [1, 3, 7, 100])
def test_a_bracketed_aside_is_never_said_even_when_it_streams_over_several_chunks(step):
    """A small model copies stage directions such as "[interrupted by the visitor]" or "[laughs]"
    into its answers; a visitor heard the avatar say "Never giving up, interrupted by the visitor"."""
    text = "Never giving up [interrupted by the visitor] is what we admire most here. [laughs] Come and see."
    chunks = stream(text, step)
    said = " ".join(chunks)
    assert "interrupted" not in said and "laughs" not in said and "[" not in said, chunks
    assert "Never giving up" in said and "is what we admire most here." in said and "Come and see." in said, chunks
    assert speakable("展览［注］很好。") == "展览很好。"
    assert speakable("See the [map](http://x.y/z).") == "See the map.", "a link keeps its words"


@pytest.mark.parametrize("text, first", [
    ("这个号码是：1234567890。", "这个号码是："),
    ("电话，13800138000，请记好。", "电话，"),
    ("“天地玄皇宇宙 洪荒日月营则陈素列长”这句话出自《千字文》。", "“天地玄皇宇宙"),
    ("这个号码是0123456789。", "这个号码是"),
])
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_a_long_first_sentence_goes_out_from_its_last_clause_or_phrase(text, first, step):
    """A number is said one syllable a digit or more: the first chunk stops at the clause before
    it instead of making the voice wait for all the digits (the bench's 1234567890 line waited
    2-3 s for its first sound); a long Chinese sentence with no comma is cut at a space between
    its phrases (the bench's 千字文 line waited 5.6 s for a 32-character sentence)."""
    chunks = stream(text, step)
    assert chunks[0] == first and "".join(chunks).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("text", ["The museum opens at nine,", "欢迎来到科学博物馆，"])
def test_the_first_chunk_leaves_the_moment_its_comma_comes(text):
    """Its voice starts while the model writes on: a first clause long enough to say is not held
    until more text comes (a long Chinese one goes out in two: "欢迎来到" | "科学博物馆，")."""
    assert "".join(Chunker().push(text)) == text
