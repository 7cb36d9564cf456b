"""Echo "LLM": answers by repeating the visitor's words, so the pipeline runs before an LLM is set."""

from __future__ import annotations

from collections.abc import Iterator


class EchoEngine:
    """Repeats the input as a one-chunk answer."""

    def __init__(self, prefix: str = "You said: ") -> None:
        self.prefix = prefix

    def reply(self, text: str) -> Iterator[str]:
        """Speakable chunks of the answer to `text`."""
        yield self.prefix + " ".join(text.split())
