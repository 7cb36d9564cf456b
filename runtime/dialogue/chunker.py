"""Streamed LLM text -> speakable chunks.

Chunks end at sentence boundaries (。！？；!?. and line breaks), never inside a number (3.14), an
abbreviation (Dr., e.g.), an initial (J. K.) or a time (10:30, 3 p.m.). The first chunk may end
early, so the voice starts sooner: at a clause boundary (，、,;:) once it is long enough to say,
in English also between two phrases with no punctuation at all (before "and", "to", "with" ...,
never after "the" or "can"); in Chinese, whose voice takes time for every character, at a shorter
clause ("你好，") or where a word ends once it is twice that long ("天、地和宇宙" | "是..."). An over-long
sentence is cut at a clause boundary too. Before a chunk is emitted, markdown, code, URLs and
emoji are turned into speakable text or dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

from runtime.speech.language import first_words, is_cjk, units

SENTENCE_END = "。！？；!?;\n"
CLAUSE_END = "，、,：:；"
CLOSERS = "\"'”’)）」』】"
ABBREVIATIONS = {
    "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "approx", "dept",
    "a.m", "p.m", "mt", "fig", "inc", "ltd", "co", "u.s", "u.k",
}
_WORD = re.compile(r"[^\s]+")
_PHRASE_START = {
    "and", "but", "or", "so", "because", "if", "when", "while", "where", "which", "who", "that", "to", "for",
    "with", "in", "on", "at", "from", "about", "as", "by", "after", "before", "until", "since", "than", "like",
    "into", "through", "during", "near", "without", "next", "behind", "between", "opposite",
}
"""Words that open a phrase: the first chunk may end just before one."""
_NO_END = {
    "a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "this", "these", "those", "some",
    "any", "no", "every", "each", "all", "to", "of", "and", "or", "but", "so", "i", "we", "they", "he", "she",
    "it", "i'm", "you're", "we're", "they're", "it's", "is", "are", "was", "were", "be", "am", "can", "will",
    "would", "could", "should", "may", "might", "must", "do", "does", "did", "have", "has", "had", "not", "very",
    "more", "most", "than", "if", "as", "at", "in", "on", "for", "with", "from", "by", "about", "that", "which",
    "who", "what", "where", "when", "how", "there", "here's", "there's", "just", "also", "too", "quite", "really",
    "next", "near", "into", "over", "under", "up", "out",
}
"""Words a phrase does not end on (articles, pronouns, auxiliaries, prepositions ...)."""
_URL = re.compile(r"https?://\S+|www\.\S+")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_INLINE_CODE = re.compile(r"`([^`]*)`")
_EMPHASIS = re.compile(r"(\*\*|__|\*|~~)(?=\S)(.+?)(?<=\S)\1")
_LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+", re.MULTILINE)
_HEADING = re.compile(r"^\s*#{1,6}\s*", re.MULTILINE)
_ASIDE = re.compile(r"\[[^\[\]]*\](?!\()|［[^［］]*］")
"""A bracketed aside, e.g. a stage direction ("[laughs]", "[interrupted]"): written, not said
(a markdown link's bracket, followed by its address, keeps its words)."""
_STREAMED_ASIDE = re.compile(r"\[[^\[\]]*\](?=[^(])|［[^［］]*］")
"""An aside in streamed text: the character after it is known (it could still start a link)."""


def speakable(text: str) -> str:
    """Markdown, URLs, inline code markers and emoji removed; whitespace collapsed."""
    text = _LINK.sub(r"\1", text)
    text = _ASIDE.sub("", text)
    text = _URL.sub("", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _HEADING.sub("", _LIST_MARK.sub("", text))
    text = "".join(c for c in text if not _is_symbol(c)).replace("*", "").replace("#", "")
    return " ".join(text.split())


class Chunker:
    """Feed tokens' text with push(); read finished chunks from it; call finish() at the end."""

    def __init__(self, first_min_units: float = 6.0, max_units: float = 60.0, first_min_units_zh: float = 2.0) -> None:
        self.first_min_units = first_min_units
        """The first chunk may end at a clause boundary once it is this long (see units())."""
        self.first_min_units_zh = first_min_units_zh
        """... a Chinese one once it is this long, or where a word ends once twice that."""
        self.max_units = max_units
        """A sentence longer than this is cut at its last clause boundary."""
        self._buffer = ""
        self._in_code = False
        self._code_tail = ""
        """Backticks at the end of a code block's text that may start its closing fence."""
        self._emitted = 0
        self._chinese = False
        """The first chunk was Chinese: every chunk ends at a clause. Kokoro makes speech hardly
        faster than it is said while the model writes beside it: a second chunk as long as a
        sentence came 0.5-1.5 s after a short first one had been said."""

    def push(self, text: str) -> list[str]:
        """Add streamed text; returns the chunks it completed."""
        self._absorb(text)
        self._buffer = _STREAMED_ASIDE.sub("", self._buffer)  # gone before a cut could fall inside it
        out: list[str] = []
        while (cut := self._find_cut()) is not None:
            chunk, self._buffer = self._buffer[:cut], self._buffer[cut:]
            self._emit(chunk, out)
        return out

    def finish(self) -> list[str]:
        """The rest of the text as the last chunk (if anything speakable is left)."""
        rest, self._buffer = self._buffer, ""
        self._in_code, self._code_tail = False, ""
        out: list[str] = []
        self._emit(rest, out)
        return out

    def _emit(self, chunk: str, out: list[str]) -> None:
        text = speakable(chunk)
        if any(c.isalnum() for c in text):
            out.append(text)
            self._emitted += 1

    def _absorb(self, text: str) -> None:
        """Append text, dropping fenced code blocks even when a fence arrives split over tokens."""
        while text:
            if self._in_code:
                text = self._code_tail + text
                end = text.find("```")
                if end < 0:
                    self._code_tail = text[-2:].lstrip("".join(c for c in text[-2:] if c != "`"))
                    return
                self._in_code, self._code_tail, text = False, "", text[end + 3:]
            else:
                self._buffer += text
                start = self._buffer.find("```")
                if start < 0:
                    return
                text = self._buffer[start + 3:]
                self._buffer = self._buffer[:start] + "\n"
                self._in_code = True

    def _find_cut(self) -> int | None:
        """Index just past the next chunk boundary in the buffer, or None to wait for more text
        (also while a bracket is open: its aside is dropped whole, never half said). A Chinese first
        clause four times first_min_units_zh long or more ends where a word does once twice that
        long, the next word whole ("天、地和宇宙" | "是玄皇所掌管的，"): the model writes a character
        or two a token, and Kokoro needs about 0.1 s a character on two cores."""
        if _open_bracket(self._buffer) or self._buffer.endswith(("]", "］")):
            return None
        cut = self._punctuation_cut()
        if self._emitted == 0 and any(is_cjk(c) for c in self._buffer):
            head = self._buffer if cut is None else self._buffer[:cut]
            self._chinese = True
            if units(head) >= 4 * self.first_min_units_zh and (words := first_words(head, 2 * self.first_min_units_zh)):
                return len(words)
            return cut
        if self._emitted == 0:
            early = self._phrase_cut(self._buffer if cut is None else self._buffer[:cut])
            if early is not None:
                return early
        return cut

    def _phrase_cut(self, buf: str) -> int | None:
        """Where the first chunk of an English answer may end before any punctuation: once it is
        first_min_units long, before a word that opens a phrase (and, to, with, which ...); once
        twice that, after any word that can end one (not after "the", "your", "can" ...). The
        voice then starts on the first few words instead of waiting for the whole first sentence."""
        words = list(_WORD.finditer(buf))
        for n, word in enumerate(words[:-1], start=1):
            said = units(buf[:word.end()])
            if said < self.first_min_units or not buf[word.end()].isspace():
                continue
            ends = word.group().lower().strip("'’\"") not in _NO_END
            following = words[n]
            if not ends or any(c in CLAUSE_END + SENTENCE_END + "." for c in word.group()):
                continue
            if said >= 2 * self.first_min_units:
                return word.end()
            if following.end() == len(buf):
                return None  # the next word may still grow: decide when it is whole
            if following.group().lower() in _PHRASE_START:
                return word.end()
        return None

    def _punctuation_cut(self) -> int | None:
        buf = self._buffer
        last_clause = None
        chinese = self._emitted == 0 and any(is_cjk(c) for c in buf)  # (English ends early between phrases)
        said_chinese = False  # a clause with Chinese words in it goes to Kokoro: it may end sooner
        for i, char in enumerate(buf):
            said_chinese = said_chinese or is_cjk(char)
            least = self.first_min_units_zh if (chinese or self._chinese) and said_chinese else self.first_min_units
            if char in SENTENCE_END or char == ".":
                end = self._sentence_end(buf, i)
                if end == -1:
                    return None  # need the next character to decide
                if end is not None:
                    return end
            if char in CLAUSE_END and not self._inside_number(buf, i):
                last_clause = i + 1
                if (self._emitted == 0 or self._chinese) and units(buf[:i]) >= least:
                    return self._past_closers(buf, i + 1)
            elif chinese and ((char == " " and _between_chinese(buf, i)) or _number_after_chinese(buf, i)):
                if units(buf[:i]) >= least:  # a space between Chinese phrases (a verse's caesura), or where a
                    return i + (char == " ")  # number follows Chinese words (这个号码是|0123456789): a comma's place
            if last_clause and units(buf[:i]) >= self.max_units:
                return last_clause
        return None

    def _sentence_end(self, buf: str, i: int) -> int | None:
        """Where the sentence ending at buf[i] ends: an index, None (not an end) or -1 (wait)."""
        char = buf[i]
        if char != ".":
            return self._past_closers(buf, i + 1) if i + 1 < len(buf) or char in "。！？；\n" else -1
        if i + 1 >= len(buf):
            return -1
        nxt = buf[i + 1]
        if nxt.isdigit() or nxt == "." or (nxt.isalpha() and not nxt.isspace()):
            return None  # 3.14, ..., e.g / a.m inside
        if nxt not in " \n" and nxt not in CLOSERS:
            return None
        word = re.search(r"([A-Za-z.]+)$", buf[:i])
        if word:
            token = word.group(1).lower().strip(".")
            if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha() and buf[i - 1].isupper()):
                return None
        return self._past_closers(buf, i + 1)

    @staticmethod
    def _inside_number(buf: str, i: int) -> bool:
        """A comma or colon between digits (1,000 or 10:30) is not a clause boundary."""
        return (0 < i < len(buf) - 1 and buf[i - 1].isdigit() and buf[i + 1].isdigit()) or (
            i == len(buf) - 1 and i > 0 and buf[i - 1].isdigit())

    @staticmethod
    def _past_closers(buf: str, j: int) -> int:
        while j < len(buf) and (buf[j] in CLOSERS or buf[j] in "!?！？。…"):
            j += 1
        return j


def chunk_text(pieces: Iterable[str], **kwargs) -> Iterator[str]:
    """Chunks of a whole stream of text pieces (for tests and offline use)."""
    chunker = Chunker(**kwargs)
    for piece in pieces:
        yield from chunker.push(piece)
    yield from chunker.finish()


def _between_chinese(text: str, i: int) -> bool:
    """text[i] stands between two Chinese characters (a space between phrases)."""
    return 0 < i < len(text) - 1 and is_cjk(text[i - 1]) and is_cjk(text[i + 1])


def _number_after_chinese(text: str, i: int) -> bool:
    """text[i] is the first digit of a number that follows a Chinese character."""
    return 0 < i and text[i].isdigit() and is_cjk(text[i - 1])


def _open_bracket(text: str) -> bool:
    """An aside's bracket is open at the end of the text."""
    return any(text.rfind(opening) > text.rfind(closing) for opening, closing in ("[]", "［］"))


def _is_symbol(char: str) -> bool:
    """Emoji, pictographs and other symbols a voice cannot say."""
    if char in "\u200d\ufe0f":
        return True
    category = unicodedata.category(char)
    return category in ("So", "Cs", "Co") or ("\U0001f000" <= char <= "\U0001faff")
