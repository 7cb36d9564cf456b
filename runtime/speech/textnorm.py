"""Text normalisation for scoring transcripts (WER for English, CER for Chinese)."""

from __future__ import annotations

import re
import unicodedata

from runtime.speech.language import to_simplified

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ZH_DIGITS = "〇一二三四五六七八九"


def _number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return " ".join(_ONES[int(d)] for d in str(n))


def normalize_en(text: str) -> str:
    """Lower case, numbers as words, no punctuation, single spaces."""
    text = re.sub(r"\d+", lambda m: " " + _number_words(int(m.group())) + " ", text.lower())
    text = "".join(c if c.isalnum() or c == "'" else " " for c in text).replace("'", "")
    return " ".join(text.split())


def normalize_zh(text: str) -> str:
    """Simplified characters, no punctuation or spaces, full-width folded, Arabic digits as Chinese digits."""
    text = to_simplified(unicodedata.normalize("NFKC", text))
    text = re.sub(r"\d", lambda m: _ZH_DIGITS[int(m.group())], text)
    return "".join(c for c in text if c.isalnum())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after English normalisation."""
    import jiwer

    ref, hyp = normalize_en(reference), normalize_en(hypothesis)
    return jiwer.wer(ref, hyp) if ref else float(bool(hyp))


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate after Chinese normalisation."""
    import jiwer

    ref, hyp = normalize_zh(reference), normalize_zh(hypothesis)
    return jiwer.cer(ref, hyp) if ref else float(bool(hyp))
