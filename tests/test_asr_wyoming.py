"""[asr] type = "wyoming": the kiosk hears through a real Wyoming speech-to-text server
(wyoming-faster-whisper on the store's Whisper base, started by the tests) as well as through the
built-in engine; a server that is down or is no Wyoming server is a coded error, and the listen
actor reports itself degraded until the server answers again."""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from runtime import factories
from runtime.actors.capture import FileSource
from runtime.actors.listen import ListenActor
from runtime.bench.broker import free_port
from runtime.config import Settings, WyomingAsr
from runtime.core.errors import ListenFault
from runtime.core.messages import ActorState, ActorStatus, Transcript
from runtime.core.supervisor import ActorSpec
from runtime.speech.textnorm import wer
from tests.conftest import run_cli
from tests.harness import Running, write_wav
from tests.test_hear import HUMAN, SAMPLES, STORE, clip, reference, silence


class WyomingWhisper:
    """wyoming-faster-whisper on the store's Whisper base, as the built-in engine runs it (int8,
    greedy), in its own process."""

    def __init__(self, data_dir) -> None:
        self.port = free_port()
        self.uri = f"tcp://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.proc: subprocess.Popen | None = None

    def start(self) -> WyomingWhisper:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wyoming_faster_whisper", "--uri", self.uri,
             "--model", str(STORE.resolve("asr-whisper-base")), "--data-dir", str(self.data_dir),
             "--local-files-only", "--stt-library", "faster-whisper", "--compute-type", "int8",
             "--beam-size", "1", "--cpu-threads", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError("wyoming-faster-whisper did not come up")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = WyomingWhisper(tmp_path_factory.mktemp("wyoming")).start()
    yield running
    running.stop()


def wyoming(uri: str) -> Settings:
    return Settings(asr=WyomingAsr(type="wyoming", uri=uri, timeout_s=60))


def test_transcribe_hears_through_the_server_as_well_as_the_built_in_engine(server, tmp_path):
    config = tmp_path / "wyoming.toml"
    config.write_text(f'[asr]\ntype = "wyoming"\nuri = "{server.uri}"\ntimeout_s = 60\n', encoding="utf-8")
    # A visitor's question (the built-in engine's own test clip and bound). On one-second phrases
    # the stock server is weaker than the built-in engine, whose encoder sees the phrase in a
    # short window rather than a 30 s one ("Everfair old." for "Ever failed.").
    done = run_cli("transcribe", str(SAMPLES / "en-quick_brown_fox.wav"), "--config", str(config), timeout=300)
    assert done.returncode == 0, done.stderr
    assert wer(reference("en-quick_brown_fox"), done.stdout) <= 0.1, done.stdout
    checked = run_cli("check-config", "--config", str(config))
    assert checked.returncode == 0 and f"the Wyoming ASR server {server.uri} answers (faster-whisper)" \
        in checked.stdout, checked.stdout + checked.stderr


def test_the_listen_actor_hears_a_visitor_through_the_server(bus, server, tmp_path):
    names = ["en-hello_world", "en-quick_brown_fox"]
    audio = np.concatenate([silence(0.5)] + [x for n in names for x in (clip(n), silence(1.2))])
    settings = wyoming(server.uri)
    listen = functools.partial(ListenActor, "listen", bus, asr_factory=factories.asr_factory(settings, STORE),
                               vad_factory=factories.vad_factory(settings, STORE), settings=settings.listen)
    path = write_wav(tmp_path / "visitor.wav", audio)
    with Running(bus, [ActorSpec("listen", listen),
                       ActorSpec("capture", lambda: FileSource("capture", bus, path=path, speed=2.0))]) as rec:
        assert rec.wait_for(lambda r: len([t for t in r.of(Transcript) if t.final]) >= 2, 120)
    finals = [t for t in rec.of(Transcript) if t.final]
    for name, final in zip(names, finals, strict=True):
        assert wer(reference(name), final.text) <= 0.1, (name, final.text)


def test_a_server_that_is_down_or_not_wyoming_is_a_coded_error(tmp_path):
    down = factories.asr_factory(wyoming(f"tcp://127.0.0.1:{free_port()}"), STORE)()
    with pytest.raises(ListenFault) as raised:
        down.transcribe(clip("en-hello_world"))
    assert raised.value.code == "asr-server-unreachable" and "[asr] uri" in raised.value.hint

    web = socket.create_server(("127.0.0.1", 0))  # answers every request with an HTTP page

    def serve() -> None:
        while True:
            try:
                conn, _ = web.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                while conn.recv(65536):  # reads on until the client hangs up
                    pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        http = factories.asr_factory(wyoming(f"tcp://127.0.0.1:{web.getsockname()[1]}"), STORE)()
        with pytest.raises(ListenFault) as raised:
            http.transcribe(clip("en-hello_world"))
        assert raised.value.code == "asr-server-invalid", raised.value.as_text()
    finally:
        web.close()

    config = tmp_path / "down.toml"
    config.write_text(f'[asr]\ntype = "wyoming"\nuri = "tcp://127.0.0.1:{free_port()}"\n', encoding="utf-8")
    done = run_cli("check-config", "--config", str(config))
    assert done.returncode == 1 and "error[asr-server-unreachable]" in done.stderr, done.stderr
    config = tmp_path / "bad.toml"
    config.write_text('[asr]\ntype = "wyoming"\nuri = "http://127.0.0.1:10300"\n', encoding="utf-8")
    done = run_cli("transcribe", str(HUMAN / "beckett.wav"), "--config", str(config))
    assert done.returncode != 0 and "asr.wyoming.uri" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_listen_actor_is_degraded_while_the_server_is_down_and_recovers(bus, tmp_path):
    later = WyomingWhisper(tmp_path)
    settings = wyoming(later.uri)
    listen = functools.partial(ListenActor, "listen", bus, asr_factory=factories.asr_factory(settings, STORE),
                               vad_factory=factories.vad_factory(settings, STORE), settings=settings.listen)
    with Running(bus, [ActorSpec("listen", listen)]) as rec:
        def states():
            return [(s.state, s.detail) for s in rec.of(ActorStatus) if s.actor == "listen"]

        assert rec.wait_for(lambda r: any(s == ActorState.DEGRADED and "asr-server-unreachable" in d
                                          for s, d in states()), 30), states()
        later.start()
        try:
            path = write_wav(tmp_path / "visitor.wav", np.concatenate([silence(0.5), clip("en-hello_world"),
                                                                       silence(1.5)]))
            source = FileSource("capture", bus, path=path, speed=2.0)
            source.start()
            try:
                assert rec.wait_for(lambda r: any(t.final for t in r.of(Transcript)), 120)
                assert rec.wait_for(lambda r: ("ready", "recovered") in states(), 10), states()
            finally:
                source.stop(2)
        finally:
            later.stop()
