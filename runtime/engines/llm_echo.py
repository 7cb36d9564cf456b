"""Echo "LLM": repeats the visitor's words, so the pipeline runs without a language model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

from pydantic import Field

from runtime.engines.llm import LlmEngine, ThinkBackend
from runtime.store.models import ModelStore


class EchoThink(ThinkBackend):
    """[think] type = "echo": repeat the visitor's words (a stand-in until an LLM is configured)."""

    type: Literal["echo"]
    prefix: str = Field("You said: ", description="Text put before the echoed words.")


def create(cfg: EchoThink, store: ModelStore) -> EchoEngine:
    """The engine for a [think] type = "echo" section (no model)."""
    return EchoEngine(cfg.prefix)


class EchoEngine(LlmEngine):
    """Streams `prefix + question` word by word."""

    greets = False
    """An echo has no persona to greet with: it only repeats."""

    def __init__(self, prefix: str = "You said: ") -> None:
        self.prefix = prefix

    def stream(self, messages: list[dict], *, max_tokens: int, should_stop: Callable[[], bool],
               language: str = "") -> Iterator[str]:
        """The question (without the dialogue's hint, the line before it) after the prefix."""
        question = messages[-1]["content"].split("\n")[-1]
        words = (self.prefix + question).split(" ")
        for i, word in enumerate(words[:max_tokens]):
            if should_stop():
                return
            yield word if i == 0 else " " + word
