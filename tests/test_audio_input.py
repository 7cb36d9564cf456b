"""Audio files of every shape are converted correctly; broken ones are refused with a code."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest
import soundfile

from runtime.core.errors import CaptureFault
from runtime.core.paths import models_dir
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.store.models import ModelStore
from tests.conftest import run_cli

SAMPLES = ModelStore(models_dir()).resolve("speech-samples")


def tone(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(audio))


@pytest.mark.parametrize("rate, channels, fmt", [(8000, 1, "WAV"), (44100, 2, "WAV"), (48000, 1, "FLAC"),
                                                 (22050, 2, "OGG")])
def test_rates_and_channels_are_converted_to_16k_mono(tmp_path, rate, channels, fmt):
    mono = tone(rate, 1.5)
    data = np.stack([mono, mono * 0.5], axis=1) if channels == 2 else mono
    path = tmp_path / f"in.{fmt.lower()}"
    soundfile.write(str(path), data, rate, format=fmt)
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx(1.5 * SAMPLE_RATE, abs=SAMPLE_RATE * 0.01)
    assert dominant_hz(audio) == pytest.approx(440, abs=3)
    expected_peak = 0.4 * (0.75 if channels == 2 else 1.0)
    assert np.abs(audio).max() == pytest.approx(expected_peak, rel=0.1)


def test_resampled_stereo_speech_is_transcribed_the_same(tmp_path):
    audio, rate = soundfile.read(str(SAMPLES / "en-quick_brown_fox.wav"), dtype="float32")
    import soxr

    up = soxr.resample(audio, rate, 44100)
    path = tmp_path / "stereo44k.wav"
    soundfile.write(str(path), np.stack([up, up], axis=1), 44100, subtype="PCM_16")
    done = run_cli("transcribe", "--json", str(path))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["text"] == "The quick brown fox jumps over the lazy dog."
    assert set(result) == {"text", "language", "segments", "latency_ms"}
    assert result["language"] == "en" and result["latency_ms"] > 0
    assert result["segments"][0]["start"] < result["segments"][-1]["end"] <= 3.0


def _write_bad(tmp_path, kind: str):
    path = tmp_path / f"{kind}.wav"
    if kind == "corrupt":
        path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x00" * 16)
    elif kind == "empty":
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
    elif kind == "not-audio":
        path.write_text("this is a text file, not audio\n")
    elif kind == "zero-bytes":
        path.write_bytes(b"")
    elif kind == "missing":
        return tmp_path / "nope.wav"
    return path


@pytest.mark.parametrize("kind, code", [("corrupt", "audio-file-unsupported"), ("empty", "audio-file-empty"),
                                        ("not-audio", "audio-file-unsupported"),
                                        ("zero-bytes", "audio-file-unsupported"), ("missing", "audio-file-missing")])
def test_bad_files_are_refused_with_a_code_and_a_hint(tmp_path, kind, code):
    path = _write_bad(tmp_path, kind)
    with pytest.raises(CaptureFault) as info:
        read_audio(path)
    assert info.value.code == code and info.value.hint
    done = run_cli("transcribe", str(path))
    assert done.returncode == 1
    assert f"error[{code}]" in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr


def test_unsupported_container_is_refused(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    done = run_cli("transcribe", str(path))
    assert done.returncode == 1 and "error[audio-file-unsupported]" in done.stderr


def test_missing_microphone_is_refused_with_the_device_list(bus):
    from runtime.actors.capture import MicrophoneSource
    from runtime.config import SupervisorConfig
    from runtime.core.supervisor import ActorSpec, Supervisor

    supervisor = Supervisor(bus, [ActorSpec("capture", lambda: MicrophoneSource(
        "capture", bus, device="no-such-microphone"))], SupervisorConfig())
    with pytest.raises(CaptureFault) as info:
        supervisor.start()
    supervisor.stop()
    assert info.value.code == "capture-device-missing"
    assert "no-such-microphone" in info.value.message and "available:" in info.value.message
    assert "edge-talker devices" in info.value.hint


FOX = "The quick brown fox jumps over the lazy dog."


def _damaged(tmp_path, kind: str) -> str:
    audio, rate = soundfile.read(str(SAMPLES / "en-quick_brown_fox.wav"), dtype="float32")
    path = tmp_path / f"{kind}.wav"
    if kind == "nonfinite":
        spots = np.random.default_rng(0).choice(len(audio), 200, replace=False)
        audio = audio.copy()
        audio[spots[:100]], audio[spots[100:150]], audio[spots[150:]] = np.nan, np.inf, -np.inf
        soundfile.write(str(path), audio, rate, subtype="FLOAT")
    elif kind == "over-full-scale":
        soundfile.write(str(path), audio * 1000, rate, subtype="FLOAT")
    elif kind == "clipped":  # driven 30 dB into the rails, as from a microphone with far too much gain
        soundfile.write(str(path), np.clip(audio * 30, -1, 1), rate, subtype="PCM_16")
    return str(path)


@pytest.mark.parametrize("kind, warning", [("nonfinite", "audio-nonfinite: 200 samples"),
                                           ("over-full-scale", "audio-over-full-scale"),
                                           ("clipped", "audio-clipped")])
def test_damaged_speech_is_sanitised_and_every_word_heard(tmp_path, kind, warning):
    path = _damaged(tmp_path, kind)
    audio = read_audio(path)
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
    done = run_cli("transcribe", path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == FOX
    assert done.stderr.count(warning) == 1, done.stderr  # said once, though the file is read twice


def test_clean_speech_is_left_alone(tmp_path):
    audio, _ = soundfile.read(str(SAMPLES / "en-quick_brown_fox.wav"), dtype="float32")
    assert np.array_equal(read_audio(SAMPLES / "en-quick_brown_fox.wav"), audio)


def test_a_file_of_mostly_nan_is_refused(tmp_path):
    path = tmp_path / "nan.wav"
    soundfile.write(str(path), np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    done = run_cli("transcribe", str(path))
    assert done.returncode == 1 and "error[audio-file-invalid]" in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr
