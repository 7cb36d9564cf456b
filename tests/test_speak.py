"""The voice: piper speech with a sample-exact viseme track, streamed and interruptible."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from runtime import pipeline
from runtime.actors.speak import SpeakActor
from runtime.app import ActorSpec
from runtime.audio import read_audio
from runtime.config import Settings
from runtime.errors import RuntimeFault
from runtime.messages import Interrupt, ReplyChunk, SpeechAudio
from runtime.textnorm import wer
from runtime.visemes import IDS, TARGETS, Viseme, concat, from_audio
from tests.conftest import run_cli
from tests.harness import Running

SETTINGS = Settings()


@pytest.fixture(scope="module")
def voice():
    return pipeline.tts_factory(SETTINGS)()


def test_track_tiles_the_audio_exactly(voice):
    pieces = list(voice.synthesize("Good morning! The gallery is on the second floor. Enjoy your visit."))
    assert len(pieces) == 3, "one piece per sentence"
    for piece in pieces:
        assert piece.track.num_samples == len(piece.audio)
        starts, lengths = piece.track.spans[:, 0], piece.track.spans[:, 1]
        assert starts[0] == 0 and np.all(starts[1:] == np.cumsum(lengths)[:-1])
        assert len(piece.track.visemes) == len(piece.track.targets) == len(lengths)


def test_open_vowel_opens_the_jaw_more_than_a_bilabial(voice):
    track = concat([p.track for p in voice.synthesize("Papa bought a big apple.")])
    jaw = {v: t[0] for v, t in zip(track.visemes, track.targets, strict=True)}
    assert "aa" in jaw and "PP" in jaw
    assert jaw["aa"] > jaw["PP"] + 0.5
    press = {v: t[3] for v, t in zip(track.visemes, track.targets, strict=True)}
    assert press["PP"] == 1.0
    assert TARGETS[Viseme.FF][4] == 1.0 and len(IDS) == len(TARGETS)


def test_synthesized_speech_is_understood_by_the_recogniser(voice, tmp_path):
    text = "Welcome to the city museum. The cafe is next to the main entrance."
    audio = np.concatenate([p.audio for p in voice.synthesize(text)])
    heard = pipeline.asr_factory(SETTINGS)().transcribe(
        read_audio_from(audio, voice.sample_rate, tmp_path), "en")
    assert wer(text, heard.text) <= 0.1, heard.text


def read_audio_from(audio: np.ndarray, rate: int, tmp_path) -> np.ndarray:
    import soundfile

    path = tmp_path / "voice.wav"
    soundfile.write(str(path), audio, rate)
    return read_audio(path)


def test_audio_driven_track_follows_loudness(tmp_path):
    from runtime.models import ModelStore
    from runtime.paths import models_dir

    audio = read_audio(ModelStore(models_dir()).resolve("speech-samples") / "en-quick_brown_fox.wav")
    padded = np.concatenate([np.zeros(8000, np.float32), audio, np.zeros(8000, np.float32)])
    track = from_audio(padded, 16000)
    assert track.num_samples == len(padded)
    jaw = track.targets[:, 0]
    silence, speech = jaw[:40], jaw[50:-50]
    assert silence.max() < 0.05
    assert np.percentile(speech, 90) > 0.4
    assert set(track.visemes) == {"~"}


def test_speak_actor_streams_chunks_and_stops_on_interrupt(bus):
    actor = functools.partial(SpeakActor, "speak", bus, engine_factory=pipeline.tts_factory(SETTINGS))
    with Running(bus, [ActorSpec("speak", actor)]) as rec:
        pub = bus.publisher()
        pub.publish(Interrupt(turn=1))
        pub.publish(ReplyChunk(turn=1, index=0, text="Hello, nice to meet you.", emotion="happy", intensity=0.4))
        pub.publish(ReplyChunk(turn=1, index=1, text="", last=True))
        assert rec.wait_for(lambda r: any(a.last for a in r.of(SpeechAudio)), 30)
        first = rec.of(SpeechAudio)[0]
        assert first.emotion == "happy" and first.sample_rate == 22050
        assert int(first.spans[:, 1].sum()) == len(first.pcm) > 0
        # A long answer, interrupted after its first sentence came out: nothing more of it is spoken.
        long_text = " ".join(f"This is sentence number {i} of a very long answer." for i in range(12))
        pub.publish(Interrupt(turn=2))
        pub.publish(ReplyChunk(turn=2, index=0, text=long_text))
        for i in range(1, 6):
            pub.publish(ReplyChunk(turn=2, index=i, text=f"Queued chunk {i}."))
        assert rec.wait_for(lambda r: any(a.turn == 2 for a in r.of(SpeechAudio)), 30)
        pub.publish(Interrupt(turn=3))
        rec.wait_for(lambda r: False, 2.0)
        turn2 = [a for a in rec.of(SpeechAudio) if a.turn == 2]
        assert len(turn2) < 12 and all(a.index == 0 for a in turn2), [(a.index, a.part) for a in turn2]
        pub.close()


def test_bad_text_and_broken_voice_get_codes(voice, tmp_path):
    for text, code in (("", "tts-empty-text"), ("\x00\x01 🙂", "tts-unspeakable"),
                       ("你好，欢迎光临", "tts-no-voice-for-language")):
        with pytest.raises(RuntimeFault) as info:
            list(voice.synthesize(text))
        assert info.value.code == code and info.value.hint
    broken = tmp_path / "voice.onnx"
    broken.write_bytes(b"\x08\x01garbage" * 100)
    (tmp_path / "voice.onnx.json").write_text(json.dumps(json.loads(
        (pipeline.model_path(pipeline.ModelStore(pipeline.models_dir()), "tts-piper-joe")
         / "en_US-joe-medium.onnx.json").read_text())))
    config = tmp_path / "c.toml"
    config.write_text(f'[speak]\nvoice = "{broken}"\n')
    done = run_cli("speak", "Hello.", "--out", str(tmp_path / "o.wav"), "--config", str(config))
    assert done.returncode == 1 and "error[tts-voice-invalid]" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_speak_cli_writes_wav_and_track(tmp_path):
    out, track = tmp_path / "hello.wav", tmp_path / "hello.json"
    done = run_cli("speak", "Hello there. Welcome!", "--out", str(out), "--visemes", str(track))
    assert done.returncode == 0, done.stderr
    import soundfile

    audio, rate = soundfile.read(str(out))
    data = json.loads(track.read_text())
    assert rate == data["sample_rate"] == 22050
    assert sum(row["samples"] for row in data["track"]) == len(audio)
