"""The e2e bench's gap count: the speaker running dry in the middle of an answer, as the visitor
hears it, measured on the play actor's own clock messages."""

from __future__ import annotations

import time

import numpy as np

from runtime.actors.play import PlayActor
from runtime.bench.report import _gaps
from runtime.core.messages import PlaybackFinished, PlaybackStarted, SpeechAudio
from runtime.core.supervisor import ActorSpec
from runtime.hardware.sound import SilentOutput
from runtime.speech.audio import to_int16
from tests.harness import Running

RATE = 22050


def piece(turn: int, index: int, seconds: float) -> SpeechAudio:
    n = int(seconds * RATE)
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / RATE).astype(np.float32)
    return SpeechAudio(turn=turn, index=index, pcm=to_int16(tone), spans=np.array([[0, n]], np.int32),
                       targets=np.zeros((1, 5), np.float32), sample_rate=RATE)


def test_a_pause_where_the_speaker_ran_dry_is_a_gap_and_pieces_played_back_to_back_are_not(bus):
    """Two pieces queued together play back to back (no gap); a third that comes 0.6 s after the
    second ended leaves the visitor in silence: one gap, about that long."""
    spec = ActorSpec("play", lambda: PlayActor("play", bus, output_factory=lambda fill: SilentOutput(None, fill)))
    with Running(bus, [spec]) as rec:
        pub = bus.publisher()
        try:
            pub.publish(piece(0, 0, 0.3))
            pub.publish(piece(0, 1, 0.3))
            assert rec.wait_for(lambda r: any(m.index == 1 for m in r.of(PlaybackFinished)), 10)
            time.sleep(0.6)
            pub.publish(piece(0, 2, 0.3))
            assert rec.wait_for(lambda r: any(m.index == 2 for m in r.of(PlaybackFinished)), 10)
        finally:
            pub.close()
    messages = [*rec.of(PlaybackStarted), *rec.of(PlaybackFinished)]
    gaps = _gaps(messages, 0)
    assert len(gaps) == 1, gaps
    assert gaps[0] >= 500, f"the gap after piece 1 measured {gaps[0]} ms, the speaker was dry at least 600 ms"
