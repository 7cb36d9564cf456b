"""The voice: piper speech with a sample-exact viseme track, streamed and interruptible."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from runtime import factories
from runtime.actors.speak import SpeakActor
from runtime.config import Settings, parse_config
from runtime.core.errors import RuntimeFault
from runtime.core.messages import Interrupt, ReplyChunk, SpeechAudio
from runtime.core.supervisor import ActorSpec
from runtime.engines.voices import SAID_KEPT, Voice, Voices
from runtime.speech.audio import read_audio
from runtime.speech.textnorm import wer
from runtime.speech.visemes import concat, from_audio
from tests.conftest import run_cli
from tests.harness import Running

SETTINGS = Settings()


@pytest.fixture(scope="module")
def voice():
    return factories.tts_factory(SETTINGS)()


def test_track_tiles_the_audio_exactly(voice):
    pieces = list(voice.synthesize("Good morning! The gallery is on the second floor. Enjoy your visit."))
    assert len(pieces) == 3, "one piece per sentence"
    for piece in pieces:
        assert piece.track.num_samples == len(piece.audio)
        starts, lengths = piece.track.spans[:, 0], piece.track.spans[:, 1]
        assert starts[0] == 0 and np.all(starts[1:] == np.cumsum(lengths)[:-1])
        assert len(piece.track.visemes) == len(piece.track.targets) == len(lengths)


def _runs(track, viseme: str) -> list[np.ndarray]:
    """Target rows of each maximal run of one viseme class in a track."""
    runs, current = [], []
    for name, row in zip(track.visemes, track.targets, strict=True):
        if name == viseme:
            current.append(row)
        elif current:
            runs, current = [*runs, np.array(current)], []
    return [*runs, np.array(current)] if current else runs


def test_the_lips_close_for_each_bilabial_and_the_jaw_drops_for_open_vowels(voice):
    # "Papa bought a big apple": p, p, b, b, pp -> five closures, each pressing the lips shut.
    track = concat([p.track for p in voice.synthesize("Papa bought a big apple.")])
    closures = _runs(track, "PP")
    assert len(closures) == 5, track.visemes
    assert all(run[:, 3].max() == 1.0 and run[:, 0].max() < 0.1 for run in closures)
    opens = _runs(track, "aa")
    assert opens and min(run[:, 0].max() for run in opens) > 0.5
    # "Five fine vans": f, f, v -> the lower lip touches the teeth three times.
    track = concat([p.track for p in voice.synthesize("Five fine vans.")])
    assert len(_runs(track, "FF")) == 3 and all(run[:, 4].max() == 1.0 for run in _runs(track, "FF"))


def test_synthesized_speech_is_understood_by_the_recogniser(voice, tmp_path):
    text = "Welcome to the city museum. The cafe is next to the main entrance."
    audio = np.concatenate([p.audio for p in voice.synthesize(text)])
    heard = factories.asr_factory(SETTINGS)().transcribe(
        read_audio_from(audio, voice.sample_rate, tmp_path), "en")
    assert wer(text, heard.text) <= 0.1, heard.text


def read_audio_from(audio: np.ndarray, rate: int, tmp_path) -> np.ndarray:
    import soundfile

    path = tmp_path / "voice.wav"
    soundfile.write(str(path), audio, rate)
    return read_audio(path)


def test_audio_driven_track_follows_loudness(tmp_path):
    from runtime.core.paths import models_dir
    from runtime.store.models import ModelStore

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
    actor = functools.partial(SpeakActor, "speak", bus, engine_factory=factories.tts_factory(SETTINGS))
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
        long_text = " ".join(f"This is sentence number {i} of a very long answer." for i in range(40))
        pub.publish(Interrupt(turn=2))
        pub.publish(ReplyChunk(turn=2, index=0, text=long_text))
        for i in range(1, 6):
            pub.publish(ReplyChunk(turn=2, index=i, text=f"Queued chunk {i}."))
        assert rec.wait_for(lambda r: any(a.turn == 2 for a in r.of(SpeechAudio)), 30)
        pub.publish(Interrupt(turn=3))
        # The actor works in order: once turn 3 is spoken, nothing of turn 2 can follow.
        pub.publish(ReplyChunk(turn=3, index=0, text="Yes?"))
        pub.publish(ReplyChunk(turn=3, index=1, text="", last=True))
        assert rec.wait_for(lambda r: any(a.turn == 3 and a.last for a in r.of(SpeechAudio)), 30)
        turn2 = [a for a in rec.of(SpeechAudio) if a.turn == 2]
        assert len(turn2) < 40 and all(a.index == 0 for a in turn2), [(a.index, a.part) for a in turn2]
        pub.close()


def test_bad_text_and_broken_voice_get_codes(voice, tmp_path):
    english_only = factories.tts_factory(parse_config('[speak.zh]\ntype = "none"\n'))()
    for text, code in (("", "tts-empty-text"), ("\x00\x01 🙂", "tts-unspeakable"),
                       ("你好，欢迎光临", "tts-no-voice-for-language")):
        with pytest.raises(RuntimeFault) as info:
            list(english_only.synthesize(text))
        assert info.value.code == code and info.value.hint
    broken = tmp_path / "voice.onnx"
    broken.write_bytes(b"\x08\x01garbage" * 100)
    (tmp_path / "voice.onnx.json").write_text(json.dumps(json.loads(
        (factories.model_store(SETTINGS).locate("tts-piper-joe")
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


def _silent_ms(audio: np.ndarray, rate: int) -> tuple[float, float]:
    """Milliseconds of silence (10 ms windows under -60 dBFS) before and after a piece's voice."""
    hop = rate // 100
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    loud = np.flatnonzero(20 * np.log10(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-12) >= -60)
    return loud[0] * 10.0, (len(frames) - 1 - loud[-1]) * 10.0


@pytest.mark.parametrize(("text", "first_pause_ms"), [("Hello. How are you?", (100, 220)),
                                                    ("你好，我是米娅！", (80, 140))])
def test_the_voice_starts_at_once_and_pauses_as_the_text_asks(voice, text, first_pause_ms):
    # Kokoro made ~100 ms of silence before every piece, piper 30-60 ms: an answer's first sound
    # came that much later. And a piece cut between two phrases ("...find your way" | "and ...")
    # ended with a sentence's pause (150-290 ms) in the middle of a sentence.
    pieces = list(voice.synthesize(text))
    assert len(pieces) == 2, [p.text for p in pieces]
    for piece in pieces:
        lead, _ = _silent_ms(piece.audio, piece.sample_rate)
        assert lead <= 30, f"{piece.text!r}: {lead:.0f} ms of silence before its voice"
        assert piece.track.num_samples == len(piece.audio)
    _, after_first = _silent_ms(pieces[0].audio, pieces[0].sample_rate)
    _, after_last = _silent_ms(pieces[1].audio, pieces[1].sample_rate)
    low, high = first_pause_ms
    assert low <= after_first <= high, f"{after_first:.0f} ms after {pieces[0].text!r}"
    assert after_last >= 120, f"a sentence's pause is kept: {after_last:.0f} ms after {pieces[1].text!r}"
    phrase = list(voice.synthesize("I'm here to help you find your way"))[-1]
    _, after_phrase = _silent_ms(phrase.audio, phrase.sample_rate)
    assert after_phrase <= 60, f"{after_phrase:.0f} ms of silence after a phrase the next piece goes on with"


def test_the_personas_greeting_is_said_at_warm_up_and_never_synthesized_again(voice):
    # Every new visitor's answer began with "Hi, I'm Mia!": piper made it beside the model reading
    # the question (the first line's answer came 200-500 ms later than the others'), and it was
    # too long to be kept as an opener.
    greetings = {"guide": {"en": "Hi, I'm Mia!", "zh": "你好，我是米娅！"}, "host": {"en": "Good evening, I am Leo."}}
    fresh = Voices(voice.voices, sample_rate=voice.sample_rate, greetings=greetings, persona="guide")
    fresh.warm()
    for text in ("Hi, I'm Mia!", "你好，我是米娅！"):
        pieces = list(fresh.synthesize(text))
        assert pieces and sum(len(p.audio) for p in pieces) > voice.sample_rate // 2
    assert fresh.said_again == 2, "both of the active persona's greetings were kept from the warm-up"
    # another persona's greeting is kept once said, and no amount of other speech pushes one out
    list(fresh.synthesize("Good evening, I am Leo."))
    for n in range(SAID_KEPT + 5):
        list(fresh.synthesize(f"Room {n}!"))
    before = fresh.said_again
    for text in ("Good evening, I am Leo.", "Hi, I'm Mia!", "你好，我是米娅！"):
        list(fresh.synthesize(text))
    assert fresh.said_again == before + 3
    # a line that is no greeting is synthesized every time
    list(fresh.synthesize("Hi, I'm Mia! Welcome."))
    list(fresh.synthesize("Hi, I'm Mia! Welcome."))
    assert fresh.said_again == before + 3
    # a greeting in a language without a voice (a caption only) does not stop the warm-up
    english = Voices({"en": voice.voices["en"]}, sample_rate=voice.sample_rate, greetings=greetings, persona="guide")
    english.warm()
    list(english.synthesize("Hi, I'm Mia!"))
    assert english.said_again == 1


def test_a_short_opener_once_said_is_said_again_without_synthesis(voice):
    # Kokoro took ~0.5 s for "你好，" before every answer that began with it (most Chinese answers
    # to a greeting); the warm-up says it, so even the first visitor's answer starts at once.
    fresh = Voices(voice.voices, sample_rate=voice.sample_rate)
    fresh.warm()
    first = list(fresh.synthesize("你好，"))
    assert fresh.said_again == 1, "the warm-up's opener is kept"
    again = list(fresh.synthesize("您好！")), list(fresh.synthesize("您好！"))
    assert fresh.said_again == 2
    for a, b in zip(*again, strict=True):
        assert np.array_equal(a.audio, b.audio) and a.track.num_samples == b.track.num_samples == len(b.audio)
        assert np.array_equal(a.track.spans, b.track.spans)
    assert first[0].text == "你好，"
    # A sentence is synthesized every time (only openers are kept) ...
    for _ in range(2):
        list(fresh.synthesize("The gallery is on the second floor."))
    assert fresh.said_again == 2
    # ... another voice of the same engine never speaks with the kept one's sound ...
    kokoro = voice.voices["zh"].engine
    other = Voices(voice.voices, {("host", "zh"): Voice(kokoro, "zm_yunxi")}, sample_rate=voice.sample_rate)
    mine, theirs = list(other.synthesize("你好，")), list(other.synthesize("你好，", persona="host"))
    assert other.said_again == 0 and not np.array_equal(mine[0].audio[:2000], theirs[0].audio[:2000])
    # ... and what is kept stays bounded, the least recently said going first.
    for n in range(SAID_KEPT + 5):
        list(fresh.synthesize(f"Room {n}!"))
    assert fresh.kept == SAID_KEPT
    list(fresh.synthesize("Room 10!"))
    list(fresh.synthesize("Room 0!"))
    assert fresh.said_again == 3, "Room 0 was said longest ago: no longer kept; Room 10 still is"


_MEMORY_PROBE = """
from runtime import factories
from runtime.config import Settings
voice = factories.tts_factory(Settings())()  # as the speak actor loads it
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6
list(voice.synthesize("Hello there."))
before = rss_mb()
long = " ".join(["The museum opens at nine, and the cafe is on the second floor next to the dinosaurs"] * 4) + "."
for _ in range(3):
    list(voice.synthesize(long))
    list(voice.synthesize("Welcome!"))
print(rss_mb() - before)
"""


def test_a_long_sentence_leaves_no_memory_behind():
    """A kiosk's memory must not climb with the longest sentence it has said: onnxruntime's arena
    kept ~460 MB after a 60-word sentence for good (RSS rose in steps over a 300-turn soak)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    grown = float(out.stdout.strip().splitlines()[-1])
    assert grown < 150, f"RSS grew {grown:.0f} MB after three long sentences"
