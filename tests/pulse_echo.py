"""Run by tests/test_echo_pulse.py in a child process whose PulseAudio environment is set before
PortAudio starts: the real play, capture and listen actors on the real sound devices (PortAudio ->
ALSA -> PulseAudio), the speaker a null sink whose monitor is the microphone, so everything the
avatar says comes straight back. Prints one JSON line: barge-ins while it spoke, and ERLE.

Usage: python -m tests.pulse_echo on|off
"""

from __future__ import annotations

import functools
import json
import sys
import time

import numpy as np
import zmq

from runtime import factories
from runtime.actors.capture import MicrophoneSource
from runtime.actors.listen import ListenActor
from runtime.actors.play import PlayActor
from runtime.config import ListenConfig, Settings
from runtime.core.bus import Bus
from runtime.core.messages import AudioFrame, PlaybackFinished, PlaybackStarted, SpeechAudio, SpeechStarted
from runtime.core.paths import models_dir
from runtime.core.supervisor import ActorSpec
from runtime.hardware.sound import OutputDevice
from runtime.speech.audio import SAMPLE_RATE, to_int16, to_rate
from runtime.store.models import ModelStore
from tests.harness import Running

TEXT = "The dinosaur hall is on the second floor, past the gift shop. Our cafe is open until five."


def main(cancel: bool) -> dict:
    store, settings = ModelStore(models_dir()), Settings()
    voice = factories.tts_factory(settings, store)()
    pieces = list(voice.synthesize(TEXT))
    audio, rate = np.concatenate([p.audio for p in pieces]).astype(np.float32) * 0.5, pieces[0].sample_rate
    context = zmq.Context()
    bus = Bus("inproc://pulse-pub", "inproc://pulse-sub", context=context)
    specs = [
        ActorSpec("play", lambda: PlayActor("play", bus, output_factory=lambda fill: OutputDevice("pulse", fill),
                                            echo_reference=cancel)),
        ActorSpec("capture", lambda: MicrophoneSource("capture", bus, device="pulse", echo_cancel=cancel)),
        ActorSpec("listen", functools.partial(
            ListenActor, "listen", bus, asr_factory=factories.asr_factory(settings, store),
            vad_factory=factories.vad_factory(settings, store), settings=ListenConfig(barge_in_echo_margin_db=0.0))),
    ]
    with Running(bus, specs, frames=False) as rec:
        assert rec.wait_for(lambda r: len(r.of(AudioFrame)) > 25, 60), "the microphone gave nothing"
        pub = bus.publisher()
        pub.publish(SpeechAudio(turn=0, pcm=to_int16(audio), spans=np.array([[0, len(audio)]], np.int32),
                                targets=np.zeros((1, 5), np.float32), sample_rate=rate, index=0))
        assert rec.wait_for(lambda r: r.of(PlaybackStarted), 10), "nothing played"
        rec.wait_for(lambda r: r.of(PlaybackFinished), 30)
        time.sleep(0.8)
        pub.close()
    context.term()
    started, finished = rec.of(PlaybackStarted)[0], rec.of(PlaybackFinished)[-1]
    frames = rec.of(AudioFrame)
    # The monitor hears exactly what was played: compare the cleaned microphone with the voice.
    begin, end = started.heard_ns + 1_000_000_000, finished.heard_ns
    heard = [f.pcm.astype(np.float64) / 32768 for f in frames if begin <= f.t_ns <= end]
    played = to_rate(audio, rate)[SAMPLE_RATE:SAMPLE_RATE + int((end - begin) / 1e9 * SAMPLE_RATE)]
    residual = float(np.mean(np.concatenate(heard) ** 2)) if heard else 1.0
    erle = 10 * np.log10(float(np.mean(played.astype(np.float64) ** 2)) / max(residual, 1e-12))
    return {"barge_ins": len([s for s in rec.of(SpeechStarted) if s.during_playback]), "erle_db": round(erle, 1),
            "interrupted": finished.interrupted, "frames": len(frames)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] == "on")))
