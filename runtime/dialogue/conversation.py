"""A conversation with one persona: memory, language policy, the venue's facts, safety phrases,
streamed speakable chunks, emotion.

No bus and no threads: the think actor and `edge-talker reply` both drive it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from runtime.core.errors import ConfigFault, ThinkFault
from runtime.dialogue.chunker import SENTENCE_END, Chunker, chunk_text
from runtime.dialogue.emotion import Emotion, Tagged, tag
from runtime.dialogue.guard import REFUSALS, UNAVAILABLE, RecitalCheck, asks_for_instructions
from runtime.dialogue.memory import Memory, Turn
from runtime.dialogue.persona import Persona
from runtime.dialogue.safety import SafetyCheck
from runtime.speech.language import is_chinese, join_words, settled_words

_LOGGER = logging.getLogger(__name__)

WORDS_SLICE = 8
"""The visitor's words are read ahead at most this many tokens a call (~0.1 s on two free cores),
so a pause's decode, which needs the CPU, waits at most that long for the read to yield."""

_HINTS = {"en": "(Answer in English.)", "zh": "（请用简体中文回答。）"}
_GROUNDED_HINTS = {"en": "(Answer in English, only from the venue facts; if they do not say, say you do not know.)",
                   "zh": "（请只根据场馆信息，用简体中文回答；信息里没有的，就说不知道。）"}
"""Added to each question: the answer language, and for a persona with facts, the grounding rule
again (a small model follows the end of its prompt more closely than the start)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One speakable piece of an answer."""

    text: str
    emotion: str
    intensity: float
    t_ms: float
    """Time since the request (milliseconds)."""
    safety: str = ""
    """The safety category this chunk is the fixed response to (empty: a normal answer)."""
    written: bool = False
    """The model wrote it (a greeting, a refusal or a fixed line is not written)."""


_SERVER_FAULTS = ("think-server-",)
"""Faults of a model that may answer again later (its server is down, slow or lost)."""


class Dialogue:
    """Answers questions as the active persona, remembering the current visitor."""

    def __init__(self, engine, personas: dict[str, Persona], persona: str, *, memory_tokens: int = 1200,
                 idle_reset_s: float = 120.0, max_reply_tokens: int = 160, max_input_tokens: int = 256,
                 first_chunk_units: float = 6.0, first_chunk_units_zh: float = 2.0, safety: SafetyCheck | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.safety = safety or SafetyCheck()
        self.personas = dict(personas)
        self.max_reply_tokens = max_reply_tokens
        self.max_input_tokens = max_input_tokens
        self.first_chunk_units = first_chunk_units
        self.first_chunk_units_zh = first_chunk_units_zh
        self._spoken = ""
        """The language of the last answer: the next question's hint is read ahead in it."""
        self.clock = clock
        self.memory = Memory(memory_tokens, idle_reset_s, engine.count, clock)
        self.persona_id = ""
        self.fault: ThinkFault | None = None
        """Why the latest answer was the fallback line (None once an answer succeeds)."""
        self.set_persona(persona)
        self.check_fits()

    @property
    def persona(self) -> Persona:
        """The active persona."""
        return self.personas[self.persona_id]

    def set_persona(self, persona_id: str) -> None:
        """Switch persona (takes effect with the next answer)."""
        if persona_id not in self.personas:
            raise ThinkFault("think-unknown-persona", f"no persona {persona_id!r}",
                               f"use one of: {', '.join(sorted(self.personas))}")
        self.persona_id = persona_id

    def put_persona(self, persona_id: str, persona: Persona | None) -> None:
        """Add or replace a persona (its prompt is evaluated now), or remove it (None)."""
        if persona is None:
            if persona_id == self.persona_id:
                raise ThinkFault("think-persona-in-use", f"persona {persona_id!r} is active",
                                 "switch to another persona before removing it")
            self.personas.pop(persona_id, None)
            return
        self.personas[persona_id] = persona
        self.engine.warm([self.system_prompt(persona)])

    def greet(self, language: str = "") -> Iterator[Chunk]:
        """The persona's greeting for a visitor who just approached, in the persona's language (else
        `language`, else English); nothing for a visitor already talking or a persona without one.
        (Said with any engine, the echo too: it is the operator's line, not the model's.)"""
        persona = self.persona
        lang = persona.language if persona.language != "match" else (language or "en")
        text = persona.greeting.get(lang) or next(iter(persona.greeting.values()), "")
        if self.memory.turns or not text:
            return
        self.memory.greet()
        yield from self.recite(text)

    def forget(self) -> None:
        """The visitor left: forget their conversation now (privacy); the next one is new."""
        self.memory.forget()

    def recite(self, text: str) -> Iterator[Chunk]:
        """An operator's text as speakable chunks tagged with emotion (no model, no memory)."""
        started, persona = self.clock(), self.persona
        for piece in chunk_text([text], first_min_units=self.first_chunk_units,
                                first_min_units_zh=self.first_chunk_units_zh):
            yield self._chunk(piece, started, persona)

    def system_prompt(self, persona: Persona | None = None) -> str:
        """The system prompt the model sees for a persona."""
        p = persona or self.persona
        style = f" Speaking style: {p.style}" if p.style else ""
        prompt = (f"{p.system_prompt}{style} Your answers are spoken aloud: at most {p.max_sentences} short "
                  f"sentences, no lists, no markdown, no emoji.")
        facts = p.facts_text()
        if facts:
            prompt += ("\n\nVenue facts (your only source for this venue's hours, places, services and prices):\n"
                       f"{facts}\n\nRules: use only the venue facts above. If they do not mention something, say "
                       "that you do not know and that the staff at the information desk can help; never make up "
                       "times, places, prices or services. Answer in the visitor's language, even when the facts "
                       "are written in another. Example: asked about parking when the facts say nothing about "
                       "it, answer \"Sorry, I don't know. The staff at the information desk can help you.\"")
        return prompt

    def check_fits(self) -> None:
        """Refuse a persona whose system prompt, with the longest question and answer, does not fit
        the model's context (measured with the model's own tokenizer and chat template)."""
        n_ctx = self.engine.n_ctx
        if not n_ctx:
            return  # no context to overflow (the echo engine)
        for persona_id, persona in self.personas.items():
            longest_hint = max(_HINTS.values(), key=self.engine.count)
            prompt = self.engine.prompt_tokens([{"role": "system", "content": self.system_prompt(persona)},
                                                {"role": "user", "content": longest_hint}])
            needed = prompt + self.max_input_tokens + self.max_reply_tokens
            if needed > n_ctx:
                raise ConfigFault(
                    "config-persona-too-long",
                    f"persona {persona_id!r}: its system prompt takes {prompt} tokens; with {self.max_input_tokens} "
                    f"for the question and {self.max_reply_tokens} for the answer it needs {needed} of the "
                    f"{n_ctx} in [think] n_ctx",
                    f"shorten [personas.{persona_id}] system_prompt or style, raise [think] n_ctx, or lower "
                    "[think] max_input_tokens / max_reply_tokens")

    def warm(self) -> None:
        """Evaluate every persona's system prompt once, before the first visitor."""
        self.engine.warm([self.system_prompt(p) for p in self.personas.values()])
        tag("Hello!")  # loads vader's sentiment lexicon

    def prepare(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Read the conversation so far into the model while nobody waits (the answer plays, the
        visitor thinks), and the start of the next question, its answer hint in the language spoken
        last: the next question then costs only its own words. False when stopped."""
        system = self.system_prompt(self.persona)
        hint = self._asking(self.persona, self.language("", self._spoken), "")
        messages = ([{"role": "system", "content": system}, {"role": "user", "content": hint}]
                    if self.memory.expired() or not self.memory.turns else self.memory.messages(system, hint))
        return self.engine.prepare(messages, should_stop)

    def read_ahead(self, words: str, should_stop: Callable[[], bool] = lambda: False, language: str = "") -> bool:
        """Read the conversation, the answer hint and the visitor's words so far (a partial
        transcript) into the model while the visitor still speaks: when they stop, only their last
        words are left. The last word is left out (it may still change; a Chinese partial, written
        without spaces, used to be left out whole). False when stopped."""
        words = settled_words(words)
        if not words:
            return True
        system = self.system_prompt(self.persona)
        asked = self._asking(self.persona, self.language(words, language), words)
        messages = ([{"role": "system", "content": system}, {"role": "user", "content": asked}]
                    if self.memory.expired() else self.memory.messages(system, asked))
        return self.engine.prepare(messages, should_stop, slice_tokens=WORDS_SLICE)

    def language(self, text: str, heard: str = "") -> str:
        """The answer language: the persona's, else the visitor's."""
        if self.persona.language != "match":
            return self.persona.language
        if heard in _HINTS:
            return heard
        return "zh" if is_chinese(text) else "en"

    def reply(self, text: str, language: str = "", should_stop: Callable[[], bool] = lambda: False, *,
              fallback: bool = False) -> Iterator[Chunk]:
        """Stream the answer to `text` as chunks; stops early when should_stop() turns true.
        With `fallback`, a model that cannot answer (a think-server-* fault: its server is down)
        gives the persona's fallback line instead of the fault, and `fault` keeps the fault until
        an answer succeeds again; without it the fault is raised."""
        question = " ".join(text.split())
        if not question:
            raise ThinkFault("think-empty-input", "nothing to answer: the text is empty",
                               "pass the visitor's words")
        trimmed = self.engine.trim(question, self.max_input_tokens)
        if trimmed != question:
            _LOGGER.warning("think-input-trimmed: visitor input cut from %d to %d characters",
                            len(question), len(trimmed))
        started, persona, lang = self.clock(), self.persona, self.language(trimmed, language)
        self._spoken = lang
        stopped = []

        def stop() -> bool:
            if not stopped and should_stop():
                stopped.append(True)
            return bool(stopped)

        spoken: list[str] = []
        category = self.safety(trimmed)
        if category is not None:
            # Never the model's words: the persona's fixed response, and the staff are told.
            response = persona.safety_response(category, lang)
            _LOGGER.warning("safety phrase (%s): fixed response given", category)
            self.memory.add(Turn(trimmed, response, prompt=self._asking(persona, lang, trimmed)))
            yield Chunk(response, str(Emotion.CONCERNED), 0.6, (self.clock() - started) * 1000,
                        safety=str(category))
            return
        greeting = persona.greeting.get(lang, "") if self.memory.new_visitor() and self.engine.greets else ""
        prompt = self._asking(persona, lang, trimmed)
        system = self.system_prompt(persona)
        messages = self.memory.messages(system, prompt)
        try:
            for piece in [greeting] if greeting else []:
                spoken.append(piece)
                yield self._chunk(piece, started, persona, Emotion.HAPPY)
            if asks_for_instructions(trimmed):
                _LOGGER.warning("think-instructions-refused: the visitor asked for the system prompt")
                spoken.append(REFUSALS[lang])
                yield self._chunk(REFUSALS[lang], started, persona)
            else:
                _LOGGER.debug("the model asked %.0f ms after the question came", (self.clock() - started) * 1000)
                try:
                    yield from self._answer(messages, started, persona, spoken, stop, RecitalCheck(system), lang)
                    self.fault = None
                except ThinkFault as fault:
                    if not (fallback and fault.code.startswith(_SERVER_FAULTS)):
                        raise
                    self.fault = fault
                    _LOGGER.warning("%s: the fallback line is said instead", fault)
                    line = persona.fallback.get(lang) or UNAVAILABLE[lang]
                    spoken.append(line)
                    yield self._chunk(line, started, persona, Emotion.CONCERNED)
        finally:
            # Runs also when the consumer stops iterating: an interrupted answer is remembered as
            # what was actually produced, marked interrupted.
            self.memory.add(Turn(trimmed, join_words(spoken), interrupted=bool(stopped),
                                 prompt=prompt))

    def _answer(self, messages, started, persona: Persona, spoken: list[str], stop, recital: RecitalCheck,
                lang: str) -> Iterator[Chunk]:
        chunker = Chunker(self.first_chunk_units, first_min_units_zh=self.first_chunk_units_zh)
        sentences, answer = 0, []

        def texts() -> Iterator[str]:
            for piece in self.engine.stream(messages, max_tokens=self.max_reply_tokens, should_stop=stop,
                                            language=lang):
                yield from chunker.push(piece)
            if not stop():
                yield from chunker.finish()

        for text in texts():
            if recital.recites(join_words([*answer, text])):  # checked before the chunk is spoken
                _LOGGER.warning("think-instructions-refused: the answer began to recite the system prompt")
                spoken.append(REFUSALS[lang])
                yield self._chunk(REFUSALS[lang], started, persona)
                return
            answer.append(text)
            spoken.append(text)
            yield replace(self._chunk(text, started, persona), written=True)
            sentences += text[-1] in SENTENCE_END + "."
            if sentences >= persona.max_sentences:
                return

    @staticmethod
    def _asking(persona: Persona, lang: str, question: str) -> str:
        """The user's message: the answer hint, then the question. The hint comes first so the
        model has read it (with the visitor's words so far) before the visitor stops: at the
        endpoint only the last words are left to read, not the hint as well."""
        return f"{(_GROUNDED_HINTS if persona.facts_text() else _HINTS)[lang]}\n{question}"

    def _chunk(self, text: str, started: float, persona: Persona, emotion: Emotion | None = None) -> Chunk:
        tagged = tag(text, Emotion(persona.emotion), persona.emotion_intensity) if emotion is None \
            else Tagged(emotion, 0.5)
        return Chunk(text, str(tagged.emotion), tagged.intensity, (self.clock() - started) * 1000)
