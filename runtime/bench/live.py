"""The e2e bench's visitor as a live microphone on the product's bus.

The product runs with `[capture] type = "bus"`; this publishes the visitor's 20 ms AudioFrames in
real time (silence between lines) and decides when each line starts by what the avatar does, as a
person would: a line after `gap_s` of silence from the end of the line before, a barge-in line
`barge_into_s` after the answer to the line before began to sound (its first PlaybackStarted, on
the speaker's clock). A fixed track started a barge-in 3.5 s after the line before and, when the
answer was one short sentence, found the avatar silent (one run in two missed a barge-in line).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import zmq

from runtime.core.bus import Publisher
from runtime.core.messages import AudioFrame, InputEnded, PlaybackStarted
from runtime.speech.audio import SAMPLE_RATE, to_int16

FRAME = SAMPLE_RATE // 50
"""Samples per published frame (20 ms, as the product's own sources)."""


class LiveVisitor:
    """Feeds `lines` (16 kHz voice, and its text, language and barge_in flag) into the bus at
    `endpoint` from a thread of its own; `script` holds each line's start_s and end_s on the
    input timeline as it is said (the report's times). Call `seen` with every bus message."""

    def __init__(self, context: zmq.Context, endpoint: str, lines: list[tuple[np.ndarray, dict]], *,
                 lead_s: float, gap_s: float, barge_into_s: float) -> None:
        self.context, self.endpoint, self.lines = context, endpoint, lines
        self.lead_s, self.gap_s, self.barge_into_s = lead_s, gap_s, barge_into_s
        self.script: list[dict] = []
        self._sounded: list[int] = []  # heard_ns of every PlaybackStarted (appended by the bus reader)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-visitor", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        """Begin speaking (the product is ready)."""
        self._thread.start()

    def seen(self, msg) -> None:
        """Note when the avatar's voice starts (from the bench's bus reader thread)."""
        if isinstance(msg, PlaybackStarted):
            self._sounded.append(msg.heard_ns)

    def close(self) -> None:
        """Stop feeding (at the end of the run, or when the product failed)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        sock = self.context.socket(zmq.PUB)
        sock.linger = 1000
        sock.connect(self.endpoint)
        publisher = Publisher(sock)
        try:
            self._speak(publisher)
        except Exception as err:  # noqa: BLE001 - reported by the bench, never lost in a thread
            self.error = err
        finally:
            sock.close()

    def _speak(self, publisher: Publisher) -> None:
        time.sleep(0.3)  # the forwarder learns of this publisher before its first frame
        origin = time.monotonic_ns()
        offset = 0  # samples published so far

        def publish(pcm: np.ndarray) -> None:  # one frame, once its last sample is due
            nonlocal offset
            while (time.monotonic_ns() - origin) * SAMPLE_RATE // 1_000_000_000 < offset + FRAME:
                if self._stop.wait(0.003):
                    return
            publisher.publish(AudioFrame(pcm=pcm, offset_samples=offset))
            offset += FRAME

        def until(ready) -> None:  # silence until ready(offset) holds
            while not self._stop.is_set() and not ready(offset):
                publish(np.zeros(FRAME, np.int16))

        end = -1
        until(lambda n: n >= self.lead_s * SAMPLE_RATE)
        for voice, line in self.lines:
            if end >= 0:
                after = end + int(self.gap_s * SAMPLE_RATE)
                if line["barge_in"]:
                    ended_ns = origin + end * 1_000_000_000 // SAMPLE_RATE
                    until(lambda n, e=ended_ns, a=after: n >= a or self._into_answer(e, origin, n))
                else:
                    until(lambda n, a=after: n >= a)
            start = offset
            pcm = to_int16(voice)
            pcm = np.concatenate([pcm, np.zeros(-len(pcm) % FRAME, np.int16)])
            for at in range(0, len(pcm), FRAME):
                publish(pcm[at:at + FRAME])
            if self._stop.is_set():
                return
            end = start + len(voice)
            self.script.append({**line, "start_s": start / SAMPLE_RATE, "end_s": end / SAMPLE_RATE})
        until(lambda n: n >= end + int(self.gap_s * SAMPLE_RATE))
        publisher.publish(InputEnded(source="bench"))

    def _into_answer(self, ended_ns: int, origin: int, offset: int) -> bool:
        """True once the input timeline is barge_into_s past the first sound after ended_ns."""
        sounded = [t for t in list(self._sounded) if t >= ended_ns]
        if not sounded:
            return False
        return origin + offset * 1_000_000_000 // SAMPLE_RATE >= min(sounded) + int(self.barge_into_s * 1e9)
