"""[speak.en] type = "wyoming": the avatar speaks through a real Wyoming text-to-speech server
(wyoming-piper on the store's piper voice, started by the tests), its mouth following the sound;
a server that is down is a coded error."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from runtime import factories
from runtime.bench.broker import free_port
from runtime.config import Settings
from runtime.speech.audio import SAMPLE_RATE, to_rate
from runtime.speech.textnorm import wer
from tests.conftest import run_cli
from tests.test_hear import STORE

SENTENCE = "I would be glad to show you the way to the old library on the second floor."


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{port}", "--voice", "en_US-joe-medium",
         "--data-dir", str(STORE.resolve("tts-piper-joe")), "--local-files-only"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.stderr.read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "wyoming-piper did not come up"
            time.sleep(0.2)
    yield f"tcp://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(30)


def config(tmp_path, uri: str) -> str:
    path = tmp_path / "wyoming-tts.toml"
    path.write_text(f'[speak.en]\ntype = "wyoming"\nuri = "{uri}"\ntimeout_s = 60\n', encoding="utf-8")
    return str(path)


def test_the_avatar_speaks_through_the_server_and_its_mouth_moves_with_the_sound(server, tmp_path):
    out, visemes = tmp_path / "said.wav", tmp_path / "said.json"
    done = run_cli("speak", SENTENCE, "--out", str(out), "--visemes", str(visemes), "--config",
                   config(tmp_path, server), timeout=300)
    assert done.returncode == 0, done.stderr
    audio, rate = soundfile.read(out, dtype="float32")
    heard = factories.asr_factory(Settings(), STORE)().transcribe(to_rate(audio, rate, SAMPLE_RATE), "en").text
    assert wer(SENTENCE, heard) <= 0.1, heard

    # Lip sync from the samples: the mouth opens when the voice starts and closes when it ends. The
    # voice is heard down to -45 dBFS (a word's fading end at -35..-45 dB is still heard: the mouth
    # rightly stays open through it; judged at -35 dB, a long fade read as a mouth closing late).
    rows = json.loads(visemes.read_text(encoding="utf-8"))["track"]
    hop = int(0.01 * rate)
    loud = [i * hop for i in range(len(audio) // hop)
            if np.sqrt(np.mean(audio[i * hop:(i + 1) * hop] ** 2)) > 10 ** (-45 / 20)]
    opened = [r["start"] for r in rows if r["jaw_open"] > 0.1]
    assert opened and loud, "no speech, or a mouth that never opens"
    for what, mouth, voice in (("opens", opened[0], loud[0]), ("closes", opened[-1], loud[-1])):
        off_ms = (mouth - voice) / rate * 1000
        assert abs(off_ms) <= 40, f"the mouth {what} {off_ms:.0f} ms off the voice"
    assert sum(r["samples"] for r in rows) == len(audio), "the track covers the audio exactly"
    checked = run_cli("check-config", "--config", config(tmp_path, server))
    assert checked.returncode == 0 and f"the Wyoming TTS server {server} answers" in checked.stdout, \
        checked.stdout + checked.stderr


def test_a_speech_server_that_is_down_is_a_coded_error(tmp_path):
    done = run_cli("speak", "Hello.", "--out", str(tmp_path / "x.wav"), "--config",
                   config(tmp_path, f"tcp://127.0.0.1:{free_port()}"))
    assert done.returncode != 0 and "error[tts-server-unreachable]" in done.stderr, done.stderr
    assert "[speak.<lang>] uri" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.wav").exists()
