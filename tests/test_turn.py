"""The turn model (Smart Turn v3.2): its input features, its verdict on real recordings, and what
happens without its file or with a damaged one."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from runtime.core.errors import ModelFault
from runtime.core.paths import models_dir
from runtime.speech.audio import SAMPLE_RATE, frame_rms, read_audio, to_db
from runtime.speech.turn import TURN_FILE, TURN_MODEL, TurnModel, log_mel, turn_factory
from runtime.store.models import ModelStore
from tests.conftest import run_cli

STORE = ModelStore(models_dir())


def voiced(audio: np.ndarray) -> np.ndarray:
    """The audio from its first to its last voiced 10 ms."""
    voice = np.nonzero(to_db(frame_rms(audio, 160)) > -45)[0]
    return audio[voice[0] * 160:(voice[-1] + 1) * 160]


def clip(asset: str, name: str, start_s: float, end_s: float, silence_after_s: float = 0.15) -> np.ndarray:
    """A stretch of a recording as the listen actor gives it to the model at a pause: a little
    silence before, the speech, then the pause so far."""
    audio = voiced(read_audio(STORE.resolve(asset) / name)[int(start_s * SAMPLE_RATE):int(end_s * SAMPLE_RATE)])
    return np.concatenate([np.zeros(int(0.3 * SAMPLE_RATE), np.float32), audio,
                           np.zeros(int(silence_after_s * SAMPLE_RATE), np.float32)])


def whisper_log_mel(audio: np.ndarray) -> np.ndarray:
    """Whisper's log-mel spectrogram written out from its definition, in float64, one frame at a
    time: the reference the product's (faster-whisper's) features must equal."""
    n_fft, hop, n_mels = 400, 160, 80
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    padded = np.pad(audio.astype(np.float64), n_fft // 2, mode="reflect")
    frames = 1 + (len(padded) - n_fft) // hop
    power = np.stack([np.abs(np.fft.rfft(padded[i * hop:i * hop + n_fft] * window)) ** 2 for i in range(frames)], 1)
    power = power[:, :-1]  # Whisper drops the last frame

    def mel(hz):  # Slaney's scale: linear below 1 kHz, logarithmic above
        hz = np.asarray(hz, np.float64)
        return np.where(hz < 1000, hz * 3 / 200, 15 + np.log(np.maximum(hz, 1e-9) / 1000) * 27 / np.log(6.4))

    def hz(m):
        return np.where(m < 15, m * 200 / 3, 1000 * np.exp((m - 15) * np.log(6.4) / 27))

    edges = hz(np.linspace(0, mel(SAMPLE_RATE / 2), n_mels + 2))
    bins = np.arange(n_fft // 2 + 1) * SAMPLE_RATE / n_fft
    bank = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        lo, centre, hi = edges[m:m + 3]
        rising, falling = (bins - lo) / (centre - lo), (hi - bins) / (hi - centre)
        bank[m] = np.maximum(0, np.minimum(rising, falling)) * 2 / (hi - lo)  # equal area
    spec = np.log10(np.maximum(bank @ power, 1e-10))
    return (np.maximum(spec, spec.max() - 8) + 4) / 4


def test_the_features_are_whispers_log_mel_of_the_last_8_s_padded_in_front():
    speech = clip("speech-samples", "en-hello_world.wav", 0.0, 2.3)
    features = log_mel(speech)
    assert features.shape == (80, 800) and features.dtype == np.float32
    window = np.concatenate([np.zeros(8 * SAMPLE_RATE - len(speech), np.float32), speech])
    window = (window - window.mean()) / np.sqrt(window.var() + 1e-7)
    np.testing.assert_allclose(features, whisper_log_mel(window), atol=2e-4)
    # The speech is at the end of the window; the front is padding (the floor of the spectrogram).
    frames = len(speech) // 160
    assert np.ptp(features[:, : 800 - frames - 2]) < 1e-6
    assert features[:, 800 - frames:].max() > features[:, 0].max() + 0.5
    # Longer audio: only its last 8 s count.
    long = np.concatenate([np.full(5 * SAMPLE_RATE, 0.3, np.float32), np.zeros(8 * SAMPLE_RATE, np.float32), speech])
    np.testing.assert_allclose(log_mel(long), log_mel(np.concatenate([np.zeros(8 * SAMPLE_RATE - len(speech),
                                                                               np.float32), speech])), atol=1e-5)


@pytest.fixture(scope="module")
def model() -> TurnModel:
    return TurnModel(STORE.path(TURN_MODEL, TURN_FILE))


FINISHED = [
    ("speech-dialogue", "endgame_nagg_nell.wav", 17.3, 19.15),  # "What are you talking about?"
    ("speech-human", "two_cities.wav", 32.8, 41.6),  # "...in the superlative degree of comparison only."
    ("speech-samples", "zh-pangrama.wav", 0.0, 9.0),  # 天地玄黄，宇宙洪荒，日月盈昃，辰宿列张。
]
CUT_MID_SENTENCE = [
    ("speech-human", "two_cities.wav", 32.8, 37.4),  # "...insisted on its being received, for good" (or for evil)
    ("speech-human", "two_cities.wav", 0.8, 3.1),  # "It was the best of times, it" (was the worst ...)
    ("speech-dialogue", "endgame_nagg_nell.wav", 23.45, 25.2),  # "Do you remember the day I" (went ...)
    ("speech-dialogue", "clone-test.wav", 0.0, 2.6),  # "I do. I think that" (America ...)
]


@pytest.mark.parametrize("where", FINISHED, ids=lambda w: f"{w[1]}@{w[2]}")
def test_the_model_hears_a_finished_sentence_as_finished(model, where):
    assert model.probability(clip(*where)) >= 0.5


@pytest.mark.parametrize("where", CUT_MID_SENTENCE, ids=lambda w: f"{w[1]}@{w[2]}")
def test_the_model_hears_a_sentence_cut_in_the_middle_as_unfinished(model, where):
    assert model.probability(clip(*where)) < 0.5


def test_a_damaged_turn_model_is_refused_with_a_code_and_the_fix(tmp_path):
    folder = tmp_path / TURN_MODEL
    folder.mkdir()
    (folder / TURN_FILE).write_bytes(b"not an onnx model" * 1000)
    from runtime.config import ListenConfig

    with pytest.raises(ModelFault) as fault:
        turn_factory(ListenConfig(), ModelStore(tmp_path))
    assert fault.value.code == "model-corrupt" and f"models fetch {TURN_MODEL}" in fault.value.hint
    with pytest.raises(ModelFault) as fault:  # given as a file: refused when loaded
        TurnModel(folder / TURN_FILE)
    assert fault.value.code == "model-corrupt" and "turn_model = false" in fault.value.hint


def test_without_the_model_file_the_words_decide_with_one_warning(tmp_path, caplog):
    from runtime.config import ListenConfig

    store = ModelStore(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert turn_factory(ListenConfig(), store) is None
        assert turn_factory(ListenConfig(), store) is None
    warnings = [r for r in caplog.records if TURN_MODEL in r.getMessage()]
    assert len(warnings) == 1 and "words alone" in warnings[0].getMessage()
    assert turn_factory(ListenConfig(turn_model=False), ModelStore(models_dir())) is None  # off: never loaded


def test_check_config_and_models_verify_say_when_the_turn_model_is_missing(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\nmodels = "{tmp_path / "store"}"\n', encoding="utf-8")
    done = run_cli("check-config", "--config", str(config), timeout=60)
    assert done.returncode == 0, done.stderr
    assert TURN_MODEL in done.stderr and "words alone" in done.stderr
    shutil.copytree(STORE.model_dir(TURN_MODEL), tmp_path / "store" / TURN_MODEL)
    done = run_cli("check-config", "--config", str(config), timeout=60)
    assert done.returncode == 0 and TURN_MODEL not in done.stderr, done.stderr
    (tmp_path / "store" / TURN_MODEL / TURN_FILE).unlink()
    done = run_cli("models", "verify", TURN_MODEL, env={"EDGE_TALKER_MODELS": str(tmp_path / "store")}, timeout=60)
    assert "error[model-missing]" in done.stdout and "optional" in done.stdout, done.stdout


@pytest.mark.parametrize("where", CUT_MID_SENTENCE[:2], ids=lambda w: f"{w[1]}@{w[2]}")
def test_the_second_look_at_a_pause_sees_the_same_silence_however_late_it_is_asked(model, where):
    """The listen actor asks the model a second time just before min_silence_s. On a busy machine
    the first verdict comes back late and the actor asks with more silence in hand (0.7 s of a
    breath): the model must still look at the words and the same 0.35 s of silence, so it gives
    the same verdict as on a quiet machine (a look at more silence says "finished" sooner: on a
    loaded CI box a breath split a visitor's sentence in two)."""
    import queue

    from runtime.config import ListenConfig
    from runtime.speech.endpoint import Verdict
    from runtime.speech.endpointing import TurnJudge

    words = clip(*where, silence_after_s=0.0)
    verdicts = []
    for late_s in (0.36, 0.7):
        answers: queue.Queue = queue.Queue()
        # (an operator who holds breaths: with the default 0.45 s a look that late is not asked, the
        # silence has ended the utterance whatever it says)
        judge = TurnJudge(ListenConfig(endpoint_unfinished_s=1.2), model, answers.put)
        try:
            judge.pause(1, np.concatenate([words, np.zeros(int(0.16 * SAMPLE_RATE), np.float32)]), "t", 0.16)
            assert judge.take(answers.get(timeout=60))
            heard = np.concatenate([words, np.zeros(int(late_s * SAMPLE_RATE), np.float32)])
            judge.silence_needed(1, Verdict.OPEN, late_s, lambda heard=heard: heard)
            second = answers.get(timeout=60)
        finally:
            judge.close()
        verdicts.append((len(second.job.audio) / SAMPLE_RATE, second.probability))
    (on_time_s, on_time_p), (late_len_s, late_p) = verdicts
    assert late_len_s == pytest.approx(on_time_s, abs=0.01), \
        f"asked late, the model heard {late_len_s:.2f} s, on time {on_time_s:.2f} s"
    assert late_p == pytest.approx(on_time_p, abs=1e-4), f"p={late_p:.2f} asked late, {on_time_p:.2f} on time"


def test_a_finished_sound_waits_for_its_words_as_long_as_they_take(model):
    """The model hears "What are you talking about?" as finished; while its words are still being
    decoded (a busy machine: the decode of "Hello!" took longer than a breath), the endpoint waits
    for them up to endpoint_incomplete_s, since the transcript needs them anyway; once they are in
    and say nothing more is coming, the short silence ends it."""
    import queue

    from runtime.config import ListenConfig
    from runtime.speech.endpoint import Verdict
    from runtime.speech.endpointing import TurnJudge

    settings, answers = ListenConfig(), queue.Queue()
    judge = TurnJudge(settings, model, answers.put)
    try:
        judge.pause(1, clip(*FINISHED[0]), "t", 0.15)
        judge.take(answers.get(timeout=60))
        silence_s = settings.endpoint_unfinished_s + 0.05
        assert judge.silence_needed(1, None, silence_s, lambda: None) >= settings.endpoint_incomplete_s > silence_s
        assert judge.silence_needed(1, Verdict.OPEN, silence_s, lambda: None) == settings.endpoint_complete_s
    finally:
        judge.close()


def test_words_that_ask_for_more_hold_the_endpoint_while_the_second_look_is_on_its_way(model):
    """"Hello." [0.5 s] "Where can I find the cafe?": the model heard the greeting as unfinished and
    is asked again at 0.35 s of silence; on a slow machine (an inference of 170-230 ms) its answer
    is not back at endpoint_unfinished_s. The words ask for more (a greeting alone), so the endpoint
    waits as they say, not only for the verdict: the question stays in the greeting's turn."""
    import queue

    from runtime.config import ListenConfig
    from runtime.speech.endpoint import Verdict, text_verdict
    from runtime.speech.endpointing import TurnJudge

    settings, answers = ListenConfig(), queue.Queue()
    words = clip(*CUT_MID_SENTENCE[0], silence_after_s=0.0)
    judge = TurnJudge(settings, model, answers.put)
    try:
        judge.pause(1, np.concatenate([words, np.zeros(int(0.16 * SAMPLE_RATE), np.float32)]), "t", 0.16)
        first = answers.get(timeout=60)
        assert judge.take(first) and first.probability < settings.turn_threshold, "heard as finished: no second look"
        look_s = settings.min_silence_s - 0.1
        heard = np.concatenate([words, np.zeros(int(look_s * SAMPLE_RATE), np.float32)])
        greeting = text_verdict("Hello.")
        assert greeting == Verdict.INCOMPLETE
        judge.silence_needed(1, greeting, look_s, lambda: heard)  # the second look is asked ...
        late_s = settings.endpoint_unfinished_s + 0.01  # ... and not back yet (not taken)
        assert judge.silence_needed(1, greeting, late_s, lambda: heard) >= settings.endpoint_incomplete_s
        assert judge.silence_needed(1, Verdict.OPEN, late_s, lambda: heard) <= late_s  # plain words: as before
        assert answers.get(timeout=60).job.index == 1, "the second look was not asked"
    finally:
        judge.close()


def test_no_second_look_once_the_silence_has_ended_the_utterance(model):
    """The pause's words came late (a busy box): by then the silence is over what any verdict would
    ask, so the model is not asked again; its inference would only take the CPU from the answer."""
    import queue

    from runtime.config import ListenConfig
    from runtime.speech.endpoint import Verdict
    from runtime.speech.endpointing import TurnJudge

    settings, answers = ListenConfig(), queue.Queue()
    words = clip(*CUT_MID_SENTENCE[0], silence_after_s=0.0)
    judge = TurnJudge(settings, model, answers.put)
    try:
        judge.pause(1, np.concatenate([words, np.zeros(int(0.16 * SAMPLE_RATE), np.float32)]), "t", 0.16)
        judge.take(answers.get(timeout=60))
        late_s = settings.endpoint_unfinished_s + 0.05
        heard = np.concatenate([words, np.zeros(int(late_s * SAMPLE_RATE), np.float32)])
        assert judge.silence_needed(1, Verdict.OPEN, late_s, lambda: heard) <= late_s
        with pytest.raises(queue.Empty):
            answers.get(timeout=1.0)
    finally:
        judge.close()
