"""Emotion of a speakable chunk: one of six labels with an intensity 0..1.

English uses vaderSentiment's compound score, refined by cues a voice actor would read: words of
surprise, concern and anger, and ! and ?. Chinese is read from such cue words alone (happy and sad
ones too): snownlp's sentiment model would cost 410 MB of memory for one short sentence at a time,
a fifth of the device's budget.
A persona may bias the result (a cheerful guide reads neutral lines mildly happy).
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
    Emotion.HAPPY: r"太好了|欢迎|高兴|开心|很棒|真棒|祝你|恭喜|喜欢|有趣|精彩|谢谢",
    Emotion.SAD: r"难过|伤心|可惜|失望|糟糕|很差|不幸|悲伤|痛苦",
}


def tag(text: str, bias: Emotion | None = None, bias_intensity: float = 0.3) -> Tagged:
    """The emotion of one chunk of text."""
    lowered = text.lower()
    exclaim = "!" in text or "！" in text
    for emotion, pattern in _CUES.items():
        if re.search(pattern, lowered):
            return Tagged(emotion, _clip(0.6 + 0.2 * exclaim))
    score = _polarity(text)
    if score >= 0.3:
        result = Tagged(Emotion.HAPPY, _clip(score + 0.2 * exclaim))
    elif score <= -0.3:
        result = Tagged(Emotion.SAD, _clip(-score))
    elif exclaim and ("?" in text or "？" in text):
        result = Tagged(Emotion.SURPRISED, 0.5)
    else:
        result = Tagged(Emotion.NEUTRAL, 0.0)
    if result.emotion == Emotion.NEUTRAL and bias is not None and bias != Emotion.NEUTRAL:
        return Tagged(bias, _clip(bias_intensity))
    return result


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
