"""An enrolled voice is judged on speech the search never used, against the nearest stock voice
and the default voice, by two speaker encoders; every channel says what was reached, and a poor
match is not stored but offers the closer voice (voice-match-poor, a notice, not an error).

Real people (the speech-human and speech-dialogue assets); a basis of five stock voices and a
search of one or two candidates, so an enrollment costs well under a minute here. The full
budget on held-out speakers is `edge-talker bench voice`.
"""

from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
import pytest
import soundfile

from runtime.core.paths import models_dir
from runtime.engines.speaker_ge2e import GE2EEncoder, read_legacy_torch
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.store.models import ModelStore
from runtime.voice import bundle
from tests.conftest import run_cli
from tests.kiosk import ApiKiosk

STORE = ModelStore(models_dir())
BASIS = ("am_michael", "am_adam", "bm_george", "af_heart", "zf_xiaoxiao")
DEVICE = "kiosk-v"
REMOTE = '\n[remote]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {port}\ndevice_id = "' + DEVICE + '"\n'
ENDGAME_NELL = [(8.4, 11.7), (14.4, 17.3), (22.2, 23.45), (27.65, 28.3)]
"""Nell's lines in the Endgame scene (speech-dialogue): a woman's acted speech."""


def _wav(audio: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _speech(audio: np.ndarray) -> np.ndarray:
    from runtime.engines.vad_silero import SileroVad

    vad = SileroVad(STORE.path("vad-silero", "silero_vad.onnx"), min_silence_s=0.3)
    vad.accept(audio)
    return np.concatenate([s.samples for s in vad.flush()])


@pytest.fixture(scope="module")
def speech() -> dict[str, np.ndarray]:
    STORE.require(["speech-human", "speech-dialogue", "speaker-embedder", "speaker-ge2e", "vad-silero"])
    scene = read_audio(STORE.model_dir("speech-dialogue") / "endgame_nagg_nell.wav")
    human = STORE.model_dir("speech-human")
    return {"nell": _speech(np.concatenate([scene[int(a * SAMPLE_RATE): int(b * SAMPLE_RATE)]
                                            for a, b in ENDGAME_NELL])),
            "dickens": read_audio(human / "two_cities.wav")[: 7 * SAMPLE_RATE],
            "beckett": read_audio(human / "beckett.wav")}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Five stock voices, a search of two candidates, a private cache and state."""
    root = tmp_path_factory.mktemp("verdict")
    voices = root / "kokoro-voices"
    voices.mkdir()
    for name in BASIS:
        (voices / f"{name}.bin").symlink_to(STORE.locate("tts-kokoro-voices") / f"{name}.bin")
    extra = (f'\n[speak.zh]\nvoices = "{voices}"\n[voice]\ncandidates = 2\nenroll_s = 600\n'
             '[asr]\nmodel = "asr-whisper-tiny-en"\n')
    config = root / "c.toml"
    config.write_text(f'[paths]\nstate = "{root / "state"}"\n' + extra)
    return root, config, extra, {"CACHE_DIRECTORY": str(root / "cache")}


def _numbers(text: str) -> None:
    """The three voices' similarity by both encoders are stated."""
    assert "held-back" in text and "d-vector / GE2E" in text, text
    assert "matched 0." in text and "nearest stock" in text and "default tts-piper-joe 0." in text, text


def test_the_second_encoder_reads_its_weights_without_pytorch_and_tells_people_apart(speech):
    weights = STORE.path("speaker-ge2e", "pretrained.pt")
    state = read_legacy_torch(weights)["model_state"]
    assert state["lstm.weight_ih_l0"].shape == (1024, 40) and state["linear.weight"].shape == (256, 256)
    ge2e = GE2EEncoder(weights)
    dickens = read_audio(STORE.model_dir("speech-human") / "two_cities.wav")
    first, later = ge2e.embed(dickens[: 6 * SAMPLE_RATE]), ge2e.embed(dickens[20 * SAMPLE_RATE: 26 * SAMPLE_RATE])
    other = ge2e.embed(read_audio(STORE.model_dir("speech-human") / "clone-test.wav"))  # a woman
    assert first @ later > 0.85 and first @ other < first @ later - 0.2


def test_a_damaged_second_encoder_is_refused_with_its_code(tmp_path):
    broken = tmp_path / "pretrained.pt"
    broken.write_bytes(b"\x80\x02not a weights file")
    with pytest.raises(Exception) as caught:
        GE2EEncoder(broken)
    assert getattr(caught.value, "code", "") == "model-corrupt" and "models fetch speaker-ge2e" in caught.value.hint


def test_a_match_no_closer_than_stock_is_not_stored_and_the_closer_voice_is_offered(speech, setup):
    # Beckett reading four seconds: with five stock voices and two candidates the search does not get
    # closer to him than the stock voice it started from, on the speech it held back.
    root, config, _, env = setup
    sample = root / "beckett.wav"
    sample.write_bytes(_wav(speech["beckett"]))
    done = run_cli("voice", "enroll", str(sample), "--name", "beckett", "--config", str(config), env=env, timeout=900)
    assert done.returncode == 0, done.stderr  # a notice, not an error
    assert "notice: voice-match-poor" in done.stderr and "nothing was stored" in done.stderr, done.stderr
    said = done.stdout.strip().splitlines()[-1]  # after "preparing the 5 stock voices ..." the first time
    assert said.startswith("not enrolled beckett: the match is poor; use "), done.stdout
    _numbers(said)
    offer = said.split("use ", 1)[1].split(" ", 1)[0]
    assert offer in (*BASIS, "tts-piper-joe") and f"--voice {offer}" in done.stderr
    assert run_cli("voice", "list", "--config", str(config)).stdout.startswith("(none yet")
    assert not (root / "state" / "voices" / "beckett").exists()


def test_the_command_line_states_what_a_stored_voice_reached(speech, setup):
    # Nell, a woman acting: the one female stock voice of the basis is far from her, the match is not.
    root, config, _, env = setup
    sample = root / "nell.wav"
    sample.write_bytes(_wav(speech["nell"][: int(4.4 * SAMPLE_RATE)]))
    done = run_cli("voice", "enroll", str(sample), "--name", "nell", "--config", str(config), env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    said = done.stdout.strip().splitlines()[-1]
    assert said.startswith("enrolled nell (en, "), done.stdout
    _numbers(said)
    meta = json.loads(run_cli("voice", "show", "nell", "--config", str(config)).stdout)
    sim = meta["similarity"]
    assert meta["stored"] and sim["closer"] and meta["offer"] is None
    for encoder in ("dvector", "ge2e"):  # closer than both other voices, by both encoders, beyond the noise
        assert sim["matched"][encoder] - max(sim["nearest"][encoder], sim["default"][encoder]) >= sim["needed"][encoder]
    assert f"matched {sim['matched']['dvector']:.3f} / {sim['matched']['ge2e']:.3f}" in said


@pytest.fixture(scope="module")
def kiosk(setup, broker, tmp_path_factory, default_avatar):
    _, _, extra, env = setup
    before = os.environ.get("CACHE_DIRECTORY")
    os.environ.update(env)
    try:
        with ApiKiosk(tmp_path_factory.mktemp("verdict-kiosk"), default_avatar,
                      extra=extra + REMOTE.format(port=broker.port)) as the_kiosk:
            yield the_kiosk
    finally:
        if before is None:
            os.environ.pop("CACHE_DIRECTORY", None)
        else:
            os.environ["CACHE_DIRECTORY"] = before


def _check_reply(reply: dict, name: str, state) -> None:
    sim = reply["similarity"]
    assert set(sim["matched"]) == {"dvector", "ge2e"} and sim["default"]["voice"] == "tts-piper-joe"
    assert sim["nearest"]["voice"] in BASIS and sim["held_back_s"] > 0
    _numbers(reply["summary"])
    codes = [n["code"] for n in reply["notices"]]
    if reply["stored"]:
        assert sim["closer"] and reply["offer"] is None and "voice-match-poor" not in codes
        assert bundle.load(state, name).meta["similarity"] == sim
    else:
        assert not sim["closer"] and reply["offer"] and "voice-match-poor" in codes
        assert name not in bundle.names(state)


def test_the_api_enrolls_a_sample_and_says_how_close_it_came(kiosk, speech):
    sample = base64.b64encode(_wav(speech["dickens"])).decode()
    reply = kiosk.http("POST", "/voices", {"name": "dickens", "sample": sample}, timeout_s=900)
    assert reply.status == 200, reply.json
    _check_reply(reply.json, "dickens", kiosk.state_dir)


def test_the_fleet_enrolls_a_sample_and_says_how_close_it_came(kiosk, broker, speech):
    sample = base64.b64encode(_wav(speech["beckett"])).decode()
    reply = broker.request(f"edge-talker/{DEVICE}/cmd/voice.enroll",
                           json.dumps({"name": "beckett", "sample": sample}).encode(), timeout_s=900)
    assert reply["ok"], reply
    _check_reply(reply["result"], "beckett", kiosk.state_dir)


def test_broken_samples_get_their_codes_in_every_channel(kiosk, broker):
    noise = np.random.default_rng(0).normal(0, 0.1, 4 * SAMPLE_RATE).astype(np.float32)
    silent = np.zeros(4 * SAMPLE_RATE, np.float32)
    cases = [({"name": "x", "sample": "not base64!"}, 422, "voice-sample-not-base64"),
             ({"name": "x", "sample": base64.b64encode(b"RIFF....WAVE").decode()}, 422, "voice-sample-unreadable"),
             ({"name": "x", "sample": base64.b64encode(_wav(silent)).decode()}, 422, "voice-sample-silent"),
             ({"name": "x", "sample": base64.b64encode(_wav(noise)).decode()}, 422, "voice-sample-not-speech"),
             ({"name": "Bad Name", "sample": "AAAA"}, 400, "command-invalid")]
    for body, status, code in cases:
        reply = kiosk.http("POST", "/voices", body, timeout_s=300)
        assert (reply.status, reply.code) == (status, code), (body["sample"][:20], reply.json)
        assert reply.json["error"]["hint"]
        fleet = broker.request(f"edge-talker/{DEVICE}/cmd/voice.enroll", json.dumps(body).encode(), timeout_s=300)
        assert not fleet["ok"] and fleet["error"]["code"] == code, fleet  # the fleet's command is the same
    huge = {"name": "x", "sample": "A" * (15 * 2**20)}  # 11 MB decoded: over the API's body, under MQTT's
    assert kiosk.http("POST", "/voices", huge).code == "api-body-too-large"
    fleet = broker.request(f"edge-talker/{DEVICE}/cmd/voice.enroll", json.dumps(huge).encode(), timeout_s=300)
    assert fleet["error"]["code"] == "voice-sample-too-large" and fleet["error"]["hint"]
    assert bundle.names(kiosk.state_dir) in ([], ["dickens"], ["beckett"], ["beckett", "dickens"])


def test_the_console_shows_the_numbers_and_offers_the_closer_voice(browser, kiosk, speech, tmp_path):
    from tests.kiosk import open_console

    sample = tmp_path / "beckett-console.wav"
    sample.write_bytes(_wav(speech["beckett"]))
    page = open_console(browser, kiosk)
    page.goto(kiosk.url + "/#voice")
    page.fill("#voice-form input[name=name]", "beckett-2")
    page.set_input_files("#voice-form input[name=sample]", str(sample))
    page.click("#voice-form button")
    page.wait_for_function("document.querySelector('#voice-enroll-message').textContent.includes('held-back')",
                           timeout=600_000)
    said = page.inner_text("#voice-enroll-message")
    assert "d-vector / GE2E" in said and "nearest stock" in said and "default tts-piper-joe 0." in said, said
    assert "beckett-2 was not stored" in said and page.is_visible("#voice-poor"), said
    offer = page.inner_text("#voice-offer").removeprefix("Use ")
    assert offer in (*BASIS, "tts-piper-joe") and offer in page.inner_text("#voice-poor")
    page.click("#voice-offer")
    page.wait_for_function("document.querySelector('#voice-enroll-message').textContent.includes('Speaking with')",
                           timeout=30_000)
    assert kiosk.http("GET", "/state").json["voices"]["en"] == offer
    assert "beckett-2" not in bundle.names(kiosk.state_dir)
    page.close()
