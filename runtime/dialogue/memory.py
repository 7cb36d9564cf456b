"""Conversation memory: the latest turns that fit a token budget, reset for a new visitor."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

_MESSAGE_OVERHEAD = 6
"""Tokens a chat template adds around each message (role markers)."""
_QUESTION_RESERVE = 64
"""Tokens kept for the question when the history is read ahead of it (`Dialogue.prepare`): turns
dropped then are not dropped again when the question comes."""
_REFILL = 2 / 3
"""Share of its room (the budget less system prompt and question) the history is cut down to
when it no longer fits."""


@dataclass
class Turn:
    """One exchange; an interrupted answer keeps only what was actually said."""

    user: str
    assistant: str
    interrupted: bool = False
    prompt: str = ""
    """The user message exactly as the model saw it (with the language hint); replaying it
    verbatim lets llama.cpp reuse the evaluated history instead of re-reading it every turn."""


class Memory:
    """Turns of the current visitor, oldest first."""

    def __init__(self, budget_tokens: int, idle_reset_s: float, count: Callable[[str], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budget_tokens = budget_tokens
        self.idle_reset_s = idle_reset_s
        self.count = count
        self.clock = clock
        self.turns: list[Turn] = []
        self._last_activity = clock()
        self.greeted = False
        """The current visitor was greeted before their first question (on approach)."""

    def expired(self) -> bool:
        """The kiosk was idle long enough that the next question starts a new visitor (nothing is
        forgotten yet: new_visitor() does that)."""
        return self.clock() - self._last_activity > self.idle_reset_s

    def new_visitor(self) -> bool:
        """Forget everything if the kiosk was idle long enough; True when this starts a new visitor
        who has not been greeted yet."""
        idle = self.expired()
        if idle:
            self.turns.clear()
            self.greeted = False
        self._last_activity = self.clock()
        new = (idle or not self.turns) and not self.greeted
        self.greeted = False
        return new

    def forget(self) -> None:
        """The visitor left: nothing of their conversation is kept; the next one starts afresh."""
        self.turns.clear()
        self.greeted = False
        self._last_activity = self.clock()

    def greet(self) -> None:
        """The current (new) visitor was just greeted: their first answer does not greet again."""
        self.greeted = True
        self._last_activity = self.clock()

    def messages(self, system: str, user: str) -> list[dict]:
        """Chat messages: the system prompt, the newest turns within budget, then the question.

        When old turns must go, they go until the history fills at most `_REFILL` of its room:
        the model re-reads everything after a dropped turn, so dropping one turn per question
        would make every answer of a long conversation wait for that re-read."""
        fixed = self.count(system) + max(self.count(user), _QUESTION_RESERVE) + 3 * _MESSAGE_OVERHEAD
        costs = [self.count(t.prompt or t.user) + self.count(self._said(t)) + 2 * _MESSAGE_OVERHEAD
                 for t in self.turns]
        if fixed + sum(costs) > self.budget_tokens:
            keep, used, room = 0, 0, (self.budget_tokens - fixed) * _REFILL
            for cost in reversed(costs):
                if used + cost > room:
                    break
                used, keep = used + cost, keep + 1
            del self.turns[: len(self.turns) - keep]  # dropped turns never come back
        history = [m for t in self.turns for m in ({"role": "user", "content": t.prompt or t.user},
                                                  {"role": "assistant", "content": self._said(t)})]
        return [{"role": "system", "content": system}, *history, {"role": "user", "content": user}]

    def add(self, turn: Turn) -> None:
        """Remember a finished (or interrupted) exchange."""
        self.turns.append(turn)
        self._last_activity = self.clock()

    def tokens(self, system: str) -> int:
        """Tokens the remembered conversation uses with this system prompt."""
        return self.count(system) + _MESSAGE_OVERHEAD + sum(
            self.count(t.prompt or t.user) + self.count(self._said(t)) + 2 * _MESSAGE_OVERHEAD for t in self.turns)

    @staticmethod
    def _said(turn: Turn) -> str:
        """What the avatar said: an answer the visitor cut short ends in a dash, as a transcript
        marks speech broken off (a bracketed note there was copied by the model and read aloud)."""
        return f"{turn.assistant.rstrip()}—" if turn.interrupted and turn.assistant.strip() else turn.assistant
