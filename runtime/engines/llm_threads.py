"""How many threads llama.cpp decodes with, chosen from how fast tokens actually come.

llama.cpp's threads meet at a spinning barrier at every step of every token. When each of them
has a core, two threads decode a token about three times faster than one on this 2-core box; but
when anything else wants a core (another program, or this product's own face, voice and
listener), the thread that lost its core holds up the spinning other one, and two threads become
far slower than one: SmolLM2 135M measured 8 ms a token with 2 threads and 25 ms with 1 on the
quiet box, but a mean of 98-134 ms with 2 and 28-30 ms with 1 beside a busy install (60 tokens
each, two runs); with two CPU hogs the 2-thread decode fell to 0.3 tokens a second.

So the governor times every token and keeps the thread count that has been faster lately,
trying the other one for a token now and then: the box's load changes within seconds. Each new
answer starts on `most` threads again: the last answer's count was chosen beside its own voice,
and the prompt's last words are read in one call that two free cores read twice as fast. Answers
are the same whatever the count (llama.cpp splits the work by rows, not by sums).
"""

from __future__ import annotations

from collections.abc import Callable

PROBE_EVERY = 32
"""Tokens between two tries of the other thread count (the cost of a try on a quiet box is one
token at the slower count: about 0.5 ms a token on average)."""
_WEIGHT = 0.3
"""Weight of the newest token in each count's running cost."""


class ThreadGovernor:
    """Switches llama.cpp between `most` threads and 1 by the measured cost of a token."""

    def __init__(self, most: int, apply: Callable[[int], None]) -> None:
        self.most = most
        self._apply = apply
        self.threads = most
        """The count the next token is decoded with."""
        self.cost: dict[int, float] = {}
        """Running cost of a token (seconds) per thread count, as measured lately."""
        self.held: int | None = None
        """A count fixed by hold() (None: the cost of tokens decides)."""
        self._since_probe = 0
        self._run = 0
        """Tokens decoded in a row with the current count."""
        self.switches = 0
        """Times the count changed (for the log and the bench)."""

    def timed(self, seconds: float) -> None:
        """One token took `seconds` with the current count: pick the count for the next one."""
        if self.most <= 1 or self.held is not None:
            return
        old = self.cost.get(self.threads)
        # The first token after a switch replaces what this count cost before: that is stale.
        self.cost[self.threads] = seconds if old is None or not self._run else old + _WEIGHT * (seconds - old)
        self._run += 1
        self._since_probe += 1
        other = 1 if self.threads == self.most else self.most
        if other not in self.cost or self._since_probe >= PROBE_EVERY:
            self._since_probe = 0
            self._set(other)  # try it (or again: the load may have changed)
        else:
            self._set(min(self.cost, key=self.cost.__getitem__))

    def afresh(self) -> None:
        """A new request: what `most` threads cost was measured beside the last answer's voice,
        which is done now. Its prompt and first tokens go to `most` threads again (their cost
        measured anew; the cost of one thread is kept to compare with)."""
        if self.most <= 1 or self.held is not None:
            return
        self.cost.pop(self.most, None)
        self._since_probe = 0
        self._set(self.most)

    def hold(self, threads: int | None) -> None:
        """Decode with `threads` from now on (None: follow the cost of tokens again)."""
        self.held = threads
        if threads is not None:
            self._set(threads)

    def _set(self, threads: int) -> None:
        if threads != self.threads:
            self.threads, self._run = threads, 0
            self.switches += 1
            self._apply(threads)
