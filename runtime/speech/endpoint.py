"""Turn-taking from what the visitor said so far: is the utterance complete, and do two
transcripts say the same words?

The listen actor waits a short silence before answering an utterance that sounds finished (a
question mark in the transcript) and a long one after a word that asks for more ("and", "um",
"那个"), so a visitor who pauses to think is not cut off. A speculative answer is committed when
the final transcript says the same words as the one it was prepared for (`same_words`:
punctuation, case and Chinese variants aside).
"""

from __future__ import annotations

import re
import unicodedata
from enum import Enum

from runtime.speech.language import to_simplified


class Verdict(str, Enum):
    """How finished an utterance sounds."""

    COMPLETE = "complete"
    OPEN = "open"
    """Nothing says either way: the normal silence applies."""
    INCOMPLETE = "incomplete"


INCOMPLETE_EN = frozenset({
    "and", "or", "but", "so", "because", "um", "uh", "er", "erm", "hmm", "the", "a", "an", "to", "of", "for",
    "with", "my", "your", "if",
})
"""English words after which a sentence cannot end (conjunctions, hesitations, articles, prepositions)."""
INCOMPLETE_ZH = ("那个", "这个", "然后", "就是", "还有", "而且", "但是", "因为", "所以", "或者", "嗯", "呃", "额", "和",
                 "跟", "的", "在", "想", "要", "请问")
"""Chinese endings that ask for more: fillers, conjunctions, a particle or verb that needs its object."""
GREETINGS = frozenset({
    "hello", "hi", "hey", "hiya", "hello there", "hi there", "hey there", "excuse me", "good morning",
    "good afternoon", "good evening", "greetings", "你好", "您好", "你好呀", "您好呀", "嗨", "哈喽", "哈啰",
    "打扰一下", "早上好", "下午好", "晚上好", "喂",
})
"""An utterance that is only one of these asks for more: a visitor who greets the kiosk goes on
with what they want after a breath ("Hello! [0.4 s] Where is the cafe, please?")."""
_QUESTION = "?？"
_TRAILING_OFF = ("...", "…", ",", "，", "、")
_WORD = re.compile(r"[a-z']+")


def text_verdict(text: str) -> Verdict:
    """What the words say: a trailing comma or ellipsis does not end a turn, a question mark does,
    a filler, conjunction, article or preposition at the end does not, nor a greeting alone;
    anything else is open."""
    stripped = text.strip()
    if not stripped:
        return Verdict.OPEN
    if normalised_words(stripped) in GREETINGS:
        return Verdict.INCOMPLETE
    if stripped.endswith(_TRAILING_OFF):
        return Verdict.INCOMPLETE
    if stripped[-1] in _QUESTION:
        return Verdict.COMPLETE
    core = stripped.rstrip("。.!！ \"'”’")
    words = _WORD.findall(core.lower())
    if (words and words[-1] in INCOMPLETE_EN) or core.endswith(INCOMPLETE_ZH):
        return Verdict.INCOMPLETE
    return Verdict.OPEN


def normalised_words(text: str) -> str:
    """The words of a transcript without punctuation, case or traditional characters."""
    simplified = to_simplified(text).casefold()
    kept = "".join(c if unicodedata.category(c)[0] in "LN" else " " for c in simplified)
    return " ".join(kept.split())


def same_words(a: str, b: str) -> bool:
    """True when two transcripts differ at most in punctuation, case and character variants."""
    return normalised_words(a) == normalised_words(b)
