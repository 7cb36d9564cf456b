"""Emotion of a speakable chunk: one of six labels with an intensity 0..1.

English uses vaderSentiment's compound score, refined by cues a voice actor would read: words of
surprise, concern and anger, and ! and ?. Chinese is read from such cue words alone (happy and sad
ones too): snownlp's sentiment model would cost 410 MB of memory for one short sentence at a time,
a fifth of the device's budget.
A persona may bias the result (a cheerful guide reads neutral lines mildly happy).

Intensity is moderate unless the text is emphatic: a greeting alone is a pleasant 0.3 (a friendly
face, not a laugh), a cue or a clearly positive or negative sentence about 0.45-0.65, and only an
exclamation with an intensifier ("so happy ...!", "太棒了！") reaches 0.9. `cue_start` says where in
the text the words that carry the emotion begin (the face shows it from there on).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from runtime.core.compat import StrEnum
from runtime.speech.language import is_chinese


class Emotion(StrEnum):
    """What the face and voice express."""

    NEUTRAL = "neutral"
    HAPPY = "happy"
    SAD = "sad"
    SURPRISED = "surprised"
    ANGRY = "angry"
    CONCERNED = "concerned"


@dataclass(frozen=True, slots=True)
class Tagged:
    """An emotion and its strength."""

    emotion: Emotion
    intensity: float


_CUES = {
    Emotion.SURPRISED: r"\b(wow|whoa|really|incredible|amazing|unbelievable|what a)\b|哇|真的吗|竟然|居然|太神奇",
    Emotion.CONCERNED: r"\b(sorry|unfortunately|afraid|careful|warning|worried|be aware|caution)\b|抱歉|"
                       r"对不起|遗憾|小心|注意|担心|恐怕",
    Emotion.ANGRY: r"\b(angry|furious|outrageous|unacceptable|hate|how dare)\b|生气|愤怒|可恶|岂有此理",
    Emotion.HAPPY: r"太好了|太棒|棒极|高兴|开心|很棒|真棒|祝你|恭喜|喜欢|有趣|精彩|谢谢",
    Emotion.SAD: r"难过|伤心|可惜|失望|糟糕|很差|不幸|悲伤|痛苦",
}


_GREETING = (r"\b(good (morning|afternoon|evening|day)|hello|hi|hey|welcome|greetings|nice to (meet|see) you)\b"
             r"|你好|您好|欢迎|早上好|下午好|晚上好")
"""Greetings: a pleasant face, whatever the sentiment lexicon makes of "good"."""
_EMPHATIC = r"\b(so|very|really|truly|absolutely|incredibly|such|totally)\b|太|真|非常|超级|极了"
"""Intensifiers: with an exclamation they make the emotion strong."""
PLEASANT = 0.3
"""Intensity of a greeting on its own."""


def tag(text: str, bias: Emotion | None = None, bias_intensity: float = 0.3) -> Tagged:
    """The emotion of one chunk of text."""
    lowered = text.lower()
    exclaim = "!" in text or "！" in text
    strong = 0.15 * exclaim + 0.3 * (exclaim and re.search(_EMPHATIC, lowered) is not None)
    rest = re.sub(_GREETING, " ", lowered)
    for emotion, pattern in _CUES.items():
        if re.search(pattern, rest):
            return Tagged(emotion, _clip(0.45 + strong))
    score = _polarity(rest) if rest.strip(" ,.!?;:，。！？") else 0.0
    if score >= 0.3:
        result = Tagged(Emotion.HAPPY, _clip(min(0.85, 0.2 + 0.5 * score + strong)))
    elif score <= -0.3:
        result = Tagged(Emotion.SAD, _clip(min(0.85, 0.2 + 0.5 * -score + 0.5 * strong)))
    elif rest != lowered:
        result = Tagged(Emotion.HAPPY, PLEASANT)
    elif exclaim and ("?" in text or "？" in text):
        result = Tagged(Emotion.SURPRISED, 0.5)
    else:
        result = Tagged(Emotion.NEUTRAL, 0.0)
    if result.emotion == Emotion.NEUTRAL and bias is not None and bias != Emotion.NEUTRAL:
        return Tagged(bias, _clip(bias_intensity))
    return result


def cue_start(text: str, emotion: Emotion | str) -> int:
    """Index in `text` where the words carrying `emotion` begin: its first cue word, else the first
    word the sentiment lexicon rates with the emotion's sign, else a greeting, else 0."""
    lowered = text.lower()
    pattern = _CUES.get(Emotion(emotion)) if emotion in Emotion.__members__.values() else None
    found = re.search(pattern, lowered) if pattern else None
    if found:
        return found.start()
    if not is_chinese(text) and emotion in (Emotion.HAPPY, Emotion.SAD):
        sign = 1.0 if emotion == Emotion.HAPPY else -1.0
        lexicon = _vader().lexicon
        greeting = re.search(_GREETING, lowered)
        for word in re.finditer(r"[a-z']+", lowered):
            if greeting and greeting.start() <= word.start() < greeting.end():
                continue
            if sign * lexicon.get(word.group(), 0.0) >= 1.0:
                return word.start()
    greeting = re.search(_GREETING, lowered)
    return greeting.start() if greeting else 0


def _polarity(text: str) -> float:
    """-1 (negative) .. 1 (positive)."""
    if is_chinese(text):
        return 0.0  # the cue words above decide
    return _vader().polarity_scores(text)["compound"]


@functools.lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _clip(value: float) -> float:
    return round(max(0.0, min(1.0, value)), 2)
