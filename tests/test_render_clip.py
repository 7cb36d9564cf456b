"""One photo + one voice -> a talking MP4, checked from the decoded file's pixels and samples."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from runtime.bench.avsync import envelope, mouth_opening, offset_ms
from runtime.clip import render_clip
from runtime.config import Settings
from runtime.core.paths import models_dir
from runtime.hardware.media import read_clip
from runtime.store.models import ModelStore
from tests.conftest import run_cli

SETTINGS = Settings()


def measured(clip, path=None):
    """Frames, fps, audio, rate and the AV offset of a clip file (default: the clip's own)."""
    frames, fps, audio, rate = read_clip(path or clip.path)
    return frames, fps, audio, rate, offset_ms(mouth_opening(frames, clip.mouth_region),
                                                envelope(audio, rate, fps, len(frames)), fps)


def test_text_clip_has_both_streams_matching_durations_and_lips_in_sync(tmp_path):
    clip = render_clip(SETTINGS, tmp_path / "hello.mp4",
                       text="Welcome to the city museum. The cafe is next to the main entrance, on your left.")
    frames, fps, audio, rate, offset = measured(clip)
    assert fps == 25 and rate == 22050
    video_s, audio_s = len(frames) / fps, clip.duration_s
    assert abs(video_s - audio_s) <= 1 / fps + 1e-6
    assert len(audio) / rate >= audio_s - 1 / fps
    assert abs(offset) <= 40, f"audio-visual offset {offset:.1f} ms"
    opening = mouth_opening(frames, clip.mouth_region)
    assert opening[:5].max() < opening.max() * 0.2, "the mouth is not at rest before the speech"


def test_user_wav_44k_stereo_drives_the_lips(tmp_path):
    samples = ModelStore(models_dir()).resolve("speech-samples")
    import soxr

    mono, rate = soundfile.read(str(samples / "en-quick_brown_fox.wav"), dtype="float32")
    up = soxr.resample(mono, rate, 44100)
    wav = tmp_path / "user.wav"
    soundfile.write(str(wav), np.stack([up, up * 0.8], axis=1), 44100, subtype="PCM_16")
    out = tmp_path / "user.mp4"
    done = run_cli("render", "--audio", str(wav), "--out", str(out))
    assert done.returncode == 0, done.stderr
    # The mouth region comes from the same avatar; the file measured is the one the CLI wrote.
    clip = render_clip(SETTINGS, tmp_path / "reference.mp4", audio_path=str(wav))
    frames, fps, audio, rate, offset = measured(clip, out)
    assert abs(len(frames) / fps - clip.duration_s) <= 1 / fps + 1e-6
    assert len(audio) / rate >= clip.duration_s - 1 / fps, "the CLI's clip lost audio"
    assert abs(offset) <= 40, f"audio-visual offset {offset:.1f} ms"
    assert mouth_opening(frames, clip.mouth_region).max() > 100, "the mouth never opened"


def test_bad_audio_and_unknown_avatar_are_refused(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    done = run_cli("render", "--audio", str(bad), "--out", str(tmp_path / "x.mp4"))
    assert done.returncode == 1 and "error[audio-file-unsupported]" in done.stderr
    done = run_cli("render", "--text", "Hi.", "--avatar", "nobody", "--out", str(tmp_path / "y.mp4"))
    assert done.returncode == 1 and "error[avatar-unknown]" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "y.mp4").exists()


@pytest.mark.parametrize(("out", "fps", "code"), [
    ("missing/clip.mp4", 25, "render-out-no-directory"),
    (".", 25, "render-out-is-directory"),
    ("clip", 25, "render-out-not-mp4"),
    ("clip.wav", 25, "render-out-not-mp4"),
    ("clip.mp4", 0, "render-bad-fps"),
    ("clip.mp4", -5, "render-bad-fps"),
    ("clip.mp4", 100000, "render-bad-fps"),
])
def test_bad_render_arguments_are_refused_before_any_work(tmp_path, out, fps, code):
    done = run_cli("render", "--text", "Hi.", "--out", str(tmp_path / out), "--fps", str(fps))
    assert done.returncode == 1, done.stderr
    assert f"error[{code}]" in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "something was written"


def test_an_existing_clip_is_replaced_only_with_force(tmp_path):
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"the visitor's earlier clip")
    done = run_cli("render", "--text", "Hi.", "--out", str(out))
    assert done.returncode == 1 and "error[render-out-exists]" in done.stderr, done.stderr
    assert out.read_bytes() == b"the visitor's earlier clip"
    done = run_cli("render", "--text", "Hi.", "--out", str(out), "--force")
    assert done.returncode == 0, done.stderr
    frames, fps, audio, _ = read_clip(out)
    assert frames and fps == 25 and audio.size
