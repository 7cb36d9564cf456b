"""The e2e bench's live visitor: real-time frames on a real bus, each line timed by what the
avatar does (a barge-in talks over the answer once it sounds, never into silence)."""

from __future__ import annotations

import time

import numpy as np
import zmq

from runtime.bench.live import FRAME, LiveVisitor
from runtime.core.bus import receive
from runtime.core.messages import AudioFrame, InputEnded, PlaybackStarted
from runtime.speech.audio import SAMPLE_RATE

GAP_S, INTO_S = 0.6, 0.3


def _lines() -> list[tuple[np.ndarray, dict]]:
    tone = (0.3 * np.sin(np.arange(int(0.3 * SAMPLE_RATE)) * 0.2)).astype(np.float32)
    return [(tone, {"line": n + 1, "text": f"line {n + 1}", "language": "en", "barge_in": n == 1}) for n in range(3)]


def _listen(bus, visitor: LiveVisitor, avatar_after_s: float | None) -> tuple[list[AudioFrame], list[int]]:
    """Run the visitor to its end; the avatar starts to sound avatar_after_s after line 1 ends
    (None: never). Returns the frames and the monotonic time each line's first voiced frame came."""
    sub = bus.subscriber([AudioFrame, InputEnded])
    time.sleep(0.2)
    visitor.start()
    frames, voiced_at, answered = [], [], False
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline:
            if not sub.poll(50):
                continue
            msg = receive(sub, zmq.NOBLOCK)
            if isinstance(msg, InputEnded):
                break
            loud = bool(np.abs(msg.pcm).max() > 0)
            if loud and (not frames or not np.abs(frames[-1].pcm).max()):
                voiced_at.append(msg.t_ns)
            frames.append(msg)
            if visitor.script and not answered and avatar_after_s is not None:
                answered = True
                heard = time.monotonic_ns() + int(avatar_after_s * 1e9)
                visitor.seen(PlaybackStarted(heard_ns=heard, index=0))
    finally:
        sub.close()
        visitor.close()
    return frames, voiced_at


def test_a_barge_in_line_starts_into_the_answer_once_it_sounds(ctx, bus):
    visitor = LiveVisitor(ctx, bus.pub_endpoint, _lines(), lead_s=0.2, gap_s=GAP_S, barge_into_s=INTO_S)
    frames, voiced = _listen(bus, visitor, avatar_after_s=0.1)
    assert visitor.error is None and len(visitor.script) == 3 and len(voiced) == 3
    assert [f.offset_samples for f in frames] == list(range(0, FRAME * len(frames), FRAME)), "a gap in the input"
    first, barge, plain = visitor.script
    # The answer sounds ~0.1 s after line 1's words came (plus the 20 ms frame), so the barge-in
    # line begins INTO_S later: well before the gap a plain line waits.
    assert 0.1 + INTO_S - 0.05 <= barge["start_s"] - first["end_s"] <= 0.1 + INTO_S + 0.15, visitor.script
    assert abs(plain["start_s"] - barge["end_s"] - GAP_S) <= 0.03, visitor.script
    # Real time: the frames come as fast as the speech is said, not faster.
    span_s = (frames[-1].t_ns - frames[0].t_ns) / 1e9
    assert span_s >= len(frames) * FRAME / SAMPLE_RATE - 0.1, (span_s, len(frames))


def test_a_barge_in_line_with_no_answer_to_talk_over_waits_out_the_gap(ctx, bus):
    visitor = LiveVisitor(ctx, bus.pub_endpoint, _lines(), lead_s=0.2, gap_s=GAP_S, barge_into_s=INTO_S)
    _listen(bus, visitor, avatar_after_s=None)
    first, barge, _ = visitor.script
    assert abs(barge["start_s"] - first["end_s"] - GAP_S) <= 0.03, visitor.script


def _msgs(onset_ns: int, *events) -> list:
    """Bus messages at times relative to the onset (ms): ("start"|"end"|"cut", turn, ms) and ("heard", ms)."""
    from runtime.core.messages import PlaybackFinished, SpeechStarted

    out = []
    for kind, *rest in events:
        if kind == "heard":
            out.append(SpeechStarted(turn=9, start_s=0.0, during_playback=True, t_ns=onset_ns + int(rest[0] * 1e6)))
        else:
            turn, ms = rest
            at = onset_ns + int(ms * 1e6)
            out.append(PlaybackStarted(turn=turn, heard_ns=at) if kind == "start"
                       else PlaybackFinished(turn=turn, heard_ns=at, interrupted=kind == "cut"))
    return out


def test_the_barge_in_figure_is_when_the_answer_talked_over_falls_silent():
    from runtime.bench.report import _barge_in

    onset = 10**12
    # The answer sounds at the onset and is cut 90 ms later: 90 ms.
    cut = _barge_in(_msgs(onset, ("start", 3, -500), ("heard", 60), ("cut", 3, 90)), onset)
    assert cut["barge_in_ms"] == 90.0 and cut["barge_in_detected_ms"] == 60.0
    # Caught between two pieces (the next one was cancelled): silent already, whatever a later
    # answer's cut says (the bench once reported 1743 ms here).
    gap = _barge_in(_msgs(onset, ("start", 3, -900), ("end", 3, -40), ("heard", 60), ("start", 4, 900),
                          ("cut", 4, 1700)), onset)
    assert gap["barge_in_ms"] == 0.0 and "between two pieces" in gap["barge_in_note"]
    # The next piece starts after the onset and plays to its end: no figure, and the note says why.
    late = _barge_in(_msgs(onset, ("start", 3, -900), ("end", 3, -40), ("heard", 60), ("start", 3, 100),
                           ("end", 3, 800)), onset)
    assert late["barge_in_ms"] is None and "ended by itself" in late["barge_in_note"]
    # Nobody was speaking: no barge-in at all.
    assert _barge_in(_msgs(onset, ("start", 3, -3000), ("end", 3, -2000)), onset)["barge_in_ms"] is None
