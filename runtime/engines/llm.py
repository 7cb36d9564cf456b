"""What the dialogue asks of a language model: the base every [think] engine extends.

Only `stream` is required. The rest have defaults that do nothing or estimate, so an engine that
cannot count tokens exactly, keep a cache or read ahead (the echo, a remote server) simply does not
override them, and the dialogue calls them all without asking what the engine can do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from pydantic import Field

from runtime.core.section import Backend

_CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]")


class ThinkBackend(Backend):
    """What every [think] backend shares: the dialogue around the model."""

    max_reply_tokens: int = Field(160, ge=8, le=2048, description="Longest answer (tokens).")
    max_input_tokens: int = Field(256, ge=16, le=4096,
        description="Longer visitor input is trimmed to this (tokens) with a warning.")
    memory_tokens: int = Field(1200, ge=128, le=32768,
        description="Budget for system prompt + history + question (tokens).")
    idle_reset_s: float = Field(120.0, gt=0, le=86400,
        description="Silence after which the next visitor starts fresh (seconds).")
    first_chunk_units: float = Field(6.0, gt=0, le=100,
        description="The first chunk may end at a comma once this long (CJK characters; a word counts 1.5, a digit 1).")
    first_chunk_units_zh: float = Field(2.0, gt=0, le=100,
        description="The first chunk of a Chinese answer may end at a comma once this long, or where a word ends "
                    "once twice that (Kokoro's synthesis grows with every character).")
    first_audio_hold_s: float = Field(2.0, ge=0, le=5,
        description="After an answer's first chunk, the model waits until its speech is synthesized, at "
                    "most this long (seconds; 0: never): the voice gets the CPU and the answer is heard sooner.")
    persona: str = Field("guide", description="Active persona: a key of [personas].")


def estimate_tokens(text: str) -> int:
    """Tokens of `text` for a model whose tokenizer is not at hand: a CJK character is about one
    token, other text about four characters a token (BPE on English)."""
    cjk = len(_CJK.findall(text))
    return max(1, cjk + (len(text) - cjk + 3) // 4)


class LlmEngine:
    """A language model streaming answers to chat messages; one actor thread uses it."""

    greets = True
    """A new visitor hears the persona's greeting before the answer."""
    n_ctx = 0
    """The model's context (tokens) that prompts are checked against; 0 = nothing to check."""

    def stream(self, messages: list[dict], *, max_tokens: int, should_stop: Callable[[], bool],
               language: str = "") -> Iterator[str]:
        """The answer to `messages` ({"role", "content"} maps) as text pieces, ending early once
        should_stop() is true (checked between pieces). `language` is the answer's ("en", "zh";
        "" = any): an engine that can keeps the answer in it (llama.cpp: an English answer has no
        Chinese characters); the others rely on the dialogue's answer hint."""
        raise NotImplementedError

    def count(self, text: str) -> int:
        """Tokens of `text` (estimated unless the engine has the model's tokenizer)."""
        return estimate_tokens(text)

    def trim(self, text: str, max_tokens: int) -> str:
        """`text` cut to about `max_tokens` tokens."""
        if self.count(text) <= max_tokens:
            return text
        low, high = 0, len(text)
        while low < high:  # the longest prefix that fits
            mid = (low + high + 1) // 2
            low, high = (mid, high) if self.count(text[:mid]) <= max_tokens else (low, mid - 1)
        return text[:low]

    def prompt_tokens(self, messages: list[dict]) -> int:
        """Tokens of the prompt these messages make (estimated: contents plus a few a message)."""
        return sum(self.count(m["content"]) + 4 for m in messages)

    def warm(self, system_prompts: list[str]) -> None:
        """Make the first answer with each of these system prompts fast (nothing by default)."""

    def prepare(self, messages: list[dict], should_stop: Callable[[], bool] = lambda: False,
                slice_tokens: int = 0) -> bool:
        """Read these messages ahead of the question that will follow them (nothing by default),
        checking should_stop() at least every `slice_tokens` tokens (0: as the reading speed
        allows). False when should_stop() stopped the reading."""
        return True
