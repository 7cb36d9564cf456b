"""Which script a text is written in, and how pieces of it join: the one home of these rules."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

LANGUAGES = ("en", "zh")
"""Languages the avatar hears and speaks."""

_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")


def is_cjk(char: str) -> bool:
    """A CJK ideograph (a Chinese character)."""
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or "\uf900" <= char <= "\ufaff"


def is_wide(char: str) -> bool:
    """A character of a script written without spaces: ideographs, kana, CJK and full-width punctuation."""
    return is_cjk(char) or "\u3000" <= char <= "\u30ff" or "\uff00" <= char <= "\uffef"


def is_chinese(text: str) -> bool:
    """True when Chinese characters outnumber Latin words (一个字 and one word say about as much:
    有免费WiFi吗 is Chinese, "Where is the 恐龙馆" is English)."""
    cjk = sum(1 for c in text if is_cjk(c))
    return cjk > len(_LATIN_WORD.findall(text))


def units(text: str) -> float:
    """How long a text takes to say, roughly: one unit per CJK character, 1.5 per Latin word, one
    per digit of a number (at least 1.5): 1234567890 is ten syllables or more in either language."""
    cjk = sum(1 for c in text if is_cjk(c))
    words = len(re.findall(r"[A-Za-z]+", text))
    numbers = sum(max(1.5, len(run)) for run in re.findall(r"[0-9]+", text))
    return cjk + 1.5 * words + numbers


def join_words(pieces: Iterable[str]) -> str:
    """Pieces of text as one: a space between words, none next to a character of a spaceless script."""
    out = ""
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        if out and not (is_wide(out[-1]) or is_wide(piece[0])):
            out += " "
        out += piece
    return out


def to_simplified(text: str) -> str:
    """Chinese in simplified characters (traditional ones and their regional phrasings converted
    with OpenCC); other scripts unchanged."""
    if not any(is_cjk(c) for c in text):
        return text
    return _opencc().convert(text)


@functools.cache
def _opencc():
    import opencc

    return opencc.OpenCC("t2s.json")


def first_words(text: str, least: float) -> str:
    """The first words of Chinese text, at least `least` units, cut where jieba says a word ends
    with a whole word after it (the word at the end of streamed text may still grow); "" when the
    text is not Chinese or not that long yet."""
    if units(text) < least or not any(is_cjk(c) for c in text):
        return ""
    import jieba

    head = ""
    words = list(jieba.cut(text))
    for n, word in enumerate(words[:-2]):
        head += word
        if units(head) >= least:
            if words[n + 1] in _CLOSING:
                continue  # a title or a quote ends first ("《周易·乾卦》" | "中讲的")
            return head if (is_cjk(word[-1]) or word in _CLOSING) and any(is_cjk(c) for c in words[n + 1]) else ""
    return ""


def settled_words(text: str) -> str:
    """What later decodes of a growing utterance will likely keep of a partial transcript: all but
    its last word, which may still change (Chinese has no spaces: its last word is jieba's)."""
    head = text.split()
    last = head.pop() if head else ""
    if any(is_cjk(c) for c in last):
        import jieba

        kept = "".join(list(jieba.cut(last))[:-1])
        if kept:
            head.append(kept)
    return " ".join(head)


_CLOSING = ("》", "」", "』", "”", "）", "】")
"""Marks that close a title, a quote or an aside: the words may end after one."""
