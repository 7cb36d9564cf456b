"""Every output path of the command line is checked before any work starts (issue #27, item 5):
a missing directory, a wrong file type or an existing file is refused with a code and a hint,
never a traceback, never a success without a file."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, run_cli

WAV = REPO / "tests" / "data"


def _refused(out, code: str) -> None:
    assert out.returncode != 0, out.stdout
    assert f"error[{code}]" in out.stderr and "hint:" in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize(("args", "code"), [
    (["speak", "Hello.", "--out", "/nonexistent/x.wav"], "speak-out-no-directory"),
    (["speak", "Hello.", "--out", "{tmp}/x.mp3"], "speak-out-wrong-type"),
    (["speak", "Hello.", "--out", "{tmp}/x.wav", "--visemes", "/nonexistent/v.json"],
     "speak-visemes-out-no-directory"),
    (["speak", "Hello.", "--out", "{tmp}/existing.wav"], "speak-out-exists"),
    (["voice", "preview", "someone", "--out", "/nonexistent/x.wav"], "voice-preview-out-no-directory"),
    (["avatar", "preview", "default", "--out", "{tmp}/sheet.txt"], "avatar-preview-out-wrong-type"),
    (["avatar", "preview", "default", "--out", "/nonexistent/x.png"], "avatar-preview-out-no-directory"),
    (["voice", "preview", "someone", "--out", "{tmp}/existing.wav"], "voice-preview-out-exists"),
    (["avatar", "preview", "default", "--out", "{tmp}/existing.png"], "avatar-preview-out-exists"),
])
def test_outputs_are_checked_before_any_work(tmp_path, args, code):
    (tmp_path / "existing.wav").write_bytes(b"keep me")
    (tmp_path / "existing.png").write_bytes(b"keep me too")
    out = run_cli(*[a.format(tmp=tmp_path) for a in args], timeout=120)
    _refused(out, code)
    assert (tmp_path / "existing.wav").read_bytes() == b"keep me"
    assert (tmp_path / "existing.png").read_bytes() == b"keep me too"
    assert not (tmp_path / "x.mp3").exists() and not (tmp_path / "sheet.txt").exists()


def test_a_preview_replaces_an_existing_file_only_with_force(tmp_path, default_avatar):
    from tests.conftest import seed_state

    state = seed_state(tmp_path / "state", default_avatar)
    sheet = tmp_path / "sheet.png"
    sheet.write_bytes(b"an older sheet")
    env = {"EDGE_TALKER_STATE": str(state)}
    refused = run_cli("avatar", "preview", "default", "--out", str(sheet), env=env, timeout=300)
    _refused(refused, "avatar-preview-out-exists")
    assert sheet.read_bytes() == b"an older sheet"
    done = run_cli("avatar", "preview", "default", "--out", str(sheet), "--force", env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sheet.read_bytes().startswith(b"\x89PNG")


def test_enrolling_into_a_state_directory_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {"EDGE_TALKER_STATE": str(blocker / "state")}
    photo = REPO / "tests" / "data" / "portraits" / "woman_older_glasses_neutral.jpg"
    _refused(run_cli("avatar", "enroll", str(photo), "--name", "ro", env=env), "avatar-state-unwritable")
    from runtime.core.paths import models_dir

    sample = models_dir() / "speech-human" / "beckett.wav"
    _refused(run_cli("voice", "enroll", str(sample), "--name", "ro", env=env), "voice-state-unwritable")
