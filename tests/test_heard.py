"""The listen actor's window of recent audio: an utterance's audio is found by its place on the
input timeline, however long the kiosk has listened and however much old audio was let go."""

import numpy as np

from runtime.core.rates import SAMPLE_RATE
from runtime.speech.heard import HeardAudio


def test_an_utterance_reads_back_the_same_samples_after_old_audio_is_let_go_and_the_window_grows():
    heard = HeardAudio(seconds=2.0)
    heard.begin_at(5 * SAMPLE_RATE)  # the microphone had run 5 s before the first frame arrived
    timeline = np.arange(40 * SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE  # each sample holds its time
    for at in range(0, len(timeline), 320):  # 20 ms frames
        heard.append(timeline[at:at + 320])
        heard.keep_from(heard.end - 10 * SAMPLE_RATE)
    assert heard.end == 45 * SAMPLE_RATE
    assert heard.start > 5 * SAMPLE_RATE, "old audio was never let go: memory grows as long as the kiosk listens"
    onset, end = 37 * SAMPLE_RATE, 44 * SAMPLE_RATE
    utterance = heard.between(onset, end)
    assert len(utterance) == end - onset
    assert np.allclose(utterance[[0, -1]], [32.0, 39.0 - 1 / SAMPLE_RATE]), "audio from the wrong time"
    assert np.allclose(heard.last(SAMPLE_RATE)[[0, -1]], [39.0, 40.0 - 1 / SAMPLE_RATE])
    early = heard.between(0, heard.start + 100)
    assert len(early) == 100, "audio before the window is not invented"
    assert len(heard.between(heard.end - 100, heard.end + 500)) == 100, "nor is audio after it"
