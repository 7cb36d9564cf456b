"""Text -> Kokoro phonemes for Mandarin, English and sentences that mix them (misaki).

Chinese goes through misaki's v1.0 Mandarin front end (cn2an for numbers, jieba for words,
pypinyin -> IPA with tone arrows), which is what Kokoro-82M v1.0 was trained on; it passes Latin
letters through unread, so every run of Latin words inside Chinese goes to the English front end
instead. English uses misaki's espeak-ng back end (phonemizer-fork + espeakng-loader: wheels that
bundle libespeak-ng and its data, so nothing is downloaded at run time). Long digit strings
(phone numbers, codes, Wi-Fi passwords) are read digit by digit, as people read them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import threading
import unicodedata
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

from runtime.core.paths import cache_dir
from runtime.speech.language import first_words, units

CLAUSE_MARKS = "，、,：:；;"
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{_CJK}]")
_LATIN_RUN = re.compile(r"[A-Za-z](?:[A-Za-z'’.\-]|\s+(?=[A-Za-z]))*")
_DIGIT_STRING = re.compile(r"(?<![0-9.])(?:0[0-9]+|[0-9]{5,})(?![0-9.])")
"""Read digit by digit: a leading 0 or five digits or more (years and prices have fewer). ASCII
digits only (NFKC folds full-width ones to them; \\d would match "٣", which has no Chinese digit)."""
_ZH_DIGITS = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
_ZH_DIGIT_RUN = re.compile("[零一二三四五六七八九]{7,}")
_SENTENCE = re.compile(r"(?<=[。！？!?；;…\n])|(?<=\.)(?=\s|$)")
_CLAUSE = re.compile(f"(?<=[{CLAUSE_MARKS}])")
_WIDE_SPACE = re.compile(f" (?=[{_CJK}\u3000-\u303f\uff00-\uffef!?,.;:])|(?<=[{_CJK}\u3000-\u303f\uff00-\uffef]) ")
"""A space next to a Chinese character or punctuation: not a pause (Chinese has no spaces)."""
_UNSAID = {"So", "Sk", "Cc", "Cf", "Co", "Cs", "Cn"}
"""Unicode categories never read aloud: emoji and other symbols, controls, private use."""


def has_cjk(text: str) -> bool:
    """True when the text has a Chinese character (then the Mandarin front end reads it)."""
    return bool(_HAS_CJK.search(text))


def sentences(text: str) -> list[str]:
    """The text cut after each sentence mark (kept with its sentence); empty pieces dropped."""
    return [s for s in _SENTENCE.split(text) if s.strip()]


def clauses(text: str) -> list[str]:
    """A sentence cut after each clause mark (，、,：:；;)."""
    return [c for c in _CLAUSE.split(text) if c.strip()]


def _first_words(sentence: str, least: float) -> str:
    """The first words of a long Chinese sentence (at least `least` units, leaving as much), cut
    where jieba says a word ends; "" when it is not Chinese or not twice that long."""
    head = first_words(sentence, least) if units(sentence) >= 2 * least else ""
    return head if units(sentence[len(head):]) >= least else ""


def _digit_group(sentence: str) -> str:
    """The first three digits of a sentence that starts with a long number read digit by digit
    ("零一二" | "三四五六七八九"), as people group a phone number; "" otherwise. Kokoro took 0.8 s
    for the six digits jieba groups as a first word."""
    run = _ZH_DIGIT_RUN.match(sentence)
    return run[0][:3] if run else ""


def speakable(text: str) -> str:
    """NFKC-folded text without emoji, symbols and control characters (espeak would read 🙂 aloud)."""
    folded = unicodedata.normalize("NFKC", text)
    text = " ".join("".join(" " if unicodedata.category(c) in _UNSAID else c for c in folded).split())
    return _WIDE_SPACE.sub("", text)


class Phonemizer:
    """Phoneme strings in Kokoro's symbol set for any mix of Mandarin and English."""

    def __init__(self, english: Callable[[str], str] | None = None) -> None:
        import jieba
        from misaki.zh import ZHG2P

        jieba.setLogLevel(logging.WARNING)
        jieba.dt.tmp_dir = str(cache_dir())  # its dictionary cache, not in a shared /tmp
        self._zh = ZHG2P()
        self._zh("一")  # builds jieba's dictionary now, not during the first answer
        self._en = english or espeak_english()

    def __call__(self, text: str) -> str:
        """One sentence or clause -> phonemes ('' when there is nothing to say)."""
        text = speakable(text)
        if not text:
            return ""
        if not has_cjk(text):
            return self._en(text).strip()
        parts, pos = [], 0
        for match in _LATIN_RUN.finditer(text):
            parts += [self._chinese(text[pos:match.start()]), self._en(match[0])]
            pos = match.end()
        parts.append(self._chinese(text[pos:]))
        return " ".join(p.strip() for p in parts if p.strip())

    def _chinese(self, text: str) -> str:
        if not text.strip():
            return ""
        return self._zh(_spelled(text))[0] or ""


def _spelled(text: str) -> str:
    """Digit strings (a leading 0, five digits or more) in Chinese digits, to be read one by one."""
    return _DIGIT_STRING.sub(lambda m: "".join(_ZH_DIGITS[c] for c in m[0]), text)


def chinese_numbers(text: str) -> str:
    """Numbers in Chinese characters, read as the Mandarin front end reads them inside Chinese:
    digit strings digit by digit, other numbers by value ("60" -> 六十). For a number the Mandarin
    voice says alone ("0123456789" in a Chinese answer): with no Chinese character in it, the front
    end would take it for English ("zero one two ...", "one billion two hundred ...")."""
    import cn2an

    return re.sub("[0-9]+", lambda m: cn2an.an2cn(m[0]), _spelled(unicodedata.normalize("NFKC", text)))


_ESPEAK_LOCK = threading.Lock()
_espeak: Callable[[str], str] | None = None


def espeak_english() -> Callable[[str], str]:
    """English text -> misaki's US English symbols through espeak-ng (bundled by espeakng-loader).

    One per process, shared by every Kokoro engine and called under a lock (espeak-ng keeps global
    state). phonemizer loads a private copy of libespeak-ng.so for each backend it makes, and never
    unloads it: so the copy is made once, in this process's own folder (espeak_copies), not in
    /tmp, where every engine load used to leave another one."""
    global _espeak
    with _ESPEAK_LOCK:
        if _espeak is None:
            from misaki.espeak import EspeakFallback
            from misaki.token import MToken
            from phonemizer.backend.espeak import api

            logging.getLogger("phonemizer").setLevel(logging.ERROR)  # "words count mismatch" is harmless
            copies = _CopiesIn(espeak_copies())
            # Made before phonemizer's own finalizers, so it runs after them at exit (they run
            # newest first): they remove their copies, then this removes the folder.
            weakref.finalize(copies, _remove_folder, copies.folder)
            saved, api.tempfile = api.tempfile, copies
            try:
                fallback = EspeakFallback(british=False)
            finally:
                api.tempfile = saved
            lock = threading.Lock()

            def english(text: str) -> str:
                with lock:
                    return fallback(MToken(text=text, tag="", whitespace=""))[0] or ""

            english.copies = copies  # the folder's finalizer lives as long as the phonemizer
            _espeak = english
        return _espeak


def espeak_copies() -> Path:
    """This process's folder for phonemizer's copy of libespeak-ng.so (cache/espeak/<pid>); the
    folders of processes that are gone are removed first (a normal end removes its folder, a crash
    leaves it behind: the next start cleans up)."""
    root = cache_dir() / "espeak"
    root.mkdir(exist_ok=True)
    for folder in root.iterdir():
        if folder.name.isdigit() and (int(folder.name) == os.getpid() or not _alive(int(folder.name))):
            shutil.rmtree(folder, ignore_errors=True)
    mine = root / str(os.getpid())
    mine.mkdir(mode=0o700, exist_ok=True)
    return mine


def _remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()  # the last process out leaves no empty folder behind


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class _CopiesIn:
    """Stands in for the tempfile module inside phonemizer's espeak loader while it loads: its
    temporary folder for the library copy is made inside `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def mkdtemp(self, *args, **kwargs) -> str:
        import tempfile

        return tempfile.mkdtemp(dir=self.folder)


def pieces(text: str, first_clause_units: float = 0, max_units: float = 30) -> Iterator[str]:
    """Sentences to synthesize one by one (see runtime.speech.language.units for the measure).

    With first_clause_units > 0 the first sentence is cut after its first clause that is at least
    that long, so its audio is ready sooner; a Chinese first sentence without such a clause, four
    times that long, is cut between two words instead once twice that long (Kokoro took 1.1-1.3 s
    for "这是一句有关宇宙和皇权的句子。" whole, 0.55 s for its first four characters). A sentence
    longer than max_units is cut at clause marks into parts of at most that (a model call's memory
    grows with the audio it makes).
    """
    for n, sentence in enumerate(sentences(text)):
        parts = clauses(sentence)
        if n == 0 and first_clause_units > 0:
            for i in range(len(parts) - 1):
                head, rest = "".join(parts[: i + 1]), "".join(parts[i + 1:])
                if units(head) >= first_clause_units and units(rest) >= first_clause_units:
                    yield head
                    sentence, parts = rest, parts[i + 1:]
                    break
            else:
                head = _digit_group(sentence) or _first_words(sentence, 2 * first_clause_units)
                if head:
                    yield head
                    sentence = sentence[len(head):]
                    parts = clauses(sentence)
        group = ""
        for part in parts if units(sentence) > max_units else [sentence]:
            if group and units(group + part) > max_units:
                yield group
                group = ""
            group += part
        if group.strip():
            yield group
