"""Which voice reads which text: one voice per language, pinned per persona, one output rate.

Each sentence goes to the voice of its language: one with a Chinese character to the zh voice
(which also reads the English words among them), any other to the en voice; the think actor's
chunks are sentences (or clauses), so each chunk is read by one voice. A
persona may pin its own voice per language. Every piece comes out at one sample rate (tracks
rescaled exactly), so the speaker, the face and the recorder never see the rate change between
two voices.

Short pieces are kept once synthesized (`SAID_UNITS`, at most `SAID_KEPT` of them, the least
recently said go first): an answer's first words are often the same ("你好，", "Hello!"), and Kokoro
takes half a second for "你好，" on two cores, which the visitor would wait for before every such
answer. The warm-up says each language's most common opener, so even the first visitor's is kept.
The personas' greetings are kept too, whatever their length, and the warm-up says the active
persona's: every new visitor's answer waited for "Hi, I'm Mia!" to be synthesized beside the
model reading the question. The kept pieces are the avatar's own speech, in memory only.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from runtime.core.errors import Unspeakable
from runtime.core.limits import clean_text
from runtime.core.rates import VOICE_RATE
from runtime.engines.tts import Speech, TtsEngine, check_speakable
from runtime.speech.audio import to_rate, voiced_span
from runtime.speech.language import units
from runtime.speech.phonemes import chinese_numbers, has_cjk, sentences
from runtime.speech.visemes import clipped, resampled

_LOGGER = logging.getLogger(__name__)

WARM_UP = {"en": "Hello!", "zh": "你好，"}
"""Said once by every voice before the first visitor: the engine's warm-up, and the most common first
piece of an answer in that language, kept from then on."""
SAID_UNITS = 4.5
"""A piece at most this long (runtime.speech.language.units: 4 Chinese characters, 3 English words) is
kept once said."""
SAID_KEPT = 32
"""At most this many pieces are kept (about 3 MB)."""
LEAD_S = 0.02
"""Silence kept before a piece's voice begins (Kokoro makes ~100 ms of it, piper 30-60 ms: the
answer's first sound comes that much sooner)."""
PAUSE_S = {"sentence": 0.2, "clause": 0.12, "phrase": 0.04}
"""Silence kept after a piece's voice ends, by how its text ends: a sentence, a clause (a comma) or a
phrase cut without a mark (the next piece goes on with the same sentence). The voices leave
150-290 ms after any piece, a sentence's pause in the middle of one."""
_SENTENCE_END, _CLAUSE_END, _CLOSERS = ".!?;。！？；…", ",，、:：", "\"'”’)）」』】 "


def language_of(text: str) -> str:
    """The language whose voice reads this text: zh when it has a Chinese character, else en."""
    return "zh" if has_cjk(text) else "en"


def language_runs(text: str, default: str = "") -> list[tuple[str, str]]:
    """(language, text) of each run of consecutive sentences in one language; sentences written in
    no script (a number, an emoji) join their neighbours, or take `default` (the answer's language;
    empty: English) when they have none."""
    runs: list[list[str]] = []
    for sentence in sentences(text):
        written = any(unicodedata.category(c)[0] == "L" for c in sentence)
        language = language_of(sentence) if written else (runs[-1][0] if runs else "")
        if runs and runs[-1][0] in (language, ""):
            runs[-1] = [language or runs[-1][0], runs[-1][1] + sentence]
        else:
            runs.append([language, sentence])
    return [(language or default or "en", part) for language, part in runs]


def fitted(speech: Speech) -> Speech:
    """The piece with LEAD_S of silence before its voice and the pause its text's end asks for
    after it (PAUSE_S; never more than the voice left); its track cut to match, sample-exact."""
    rate = speech.sample_rate
    first, last = voiced_span(speech.audio, rate)
    if last <= first:
        return speech
    end = speech.text.rstrip(_CLOSERS)[-1:]
    pause = PAUSE_S["sentence" if end in _SENTENCE_END else "clause" if end in _CLAUSE_END else "phrase"]
    start, stop = max(0, first - round(LEAD_S * rate)), min(len(speech.audio), last + round(pause * rate))
    if (start, stop) == (0, len(speech.audio)):
        return speech
    return Speech(speech.audio[start:stop], rate, clipped(speech.track, start, stop), speech.text)


@dataclass(frozen=True, slots=True)
class Voice:
    """An engine and the voice it speaks with."""

    engine: TtsEngine
    name: str = ""
    """Voice of a multi-voice engine (Kokoro); empty: the engine's own."""


class Voices:
    """The avatar's voices; `synthesize` looks like a single engine's."""

    def __init__(self, voices: dict[str, Voice], pinned: dict[tuple[str, str], Voice] | None = None, *,
                 sample_rate: int = VOICE_RATE, greetings: dict[str, dict[str, str]] | None = None,
                 persona: str = "") -> None:
        self.voices = voices
        """Language -> its voice (a language without one is shown as captions only)."""
        self.pinned = pinned or {}
        """(persona, language) -> the voice that persona speaks that language with."""
        self.sample_rate = sample_rate
        """Every piece comes out at this rate (hertz)."""
        self.languages = tuple(voices)
        self._said: OrderedDict[tuple[int, str, str], tuple[Speech, ...]] = OrderedDict()
        """(engine, voice, text) -> its pieces, for short texts once said (SAID_UNITS, SAID_KEPT)."""
        self.greetings = greetings or {}
        """Persona -> language -> its greeting: kept once said, never dropped (one per persona and language)."""
        self.persona = persona
        """The persona whose greetings the warm-up says."""
        self._greeted: dict[tuple[int, str, str], tuple[Speech, ...]] = {}
        self.said_again = 0
        """Pieces taken from the kept ones instead of synthesized (for the log and tests)."""

    @property
    def kept(self) -> int:
        """How many short pieces are kept."""
        return len(self._said)

    def voice(self, language: str, persona: str = "") -> Voice:
        """The voice for a language (the persona's pin, else the configured one)."""
        voice = self.pinned.get((persona, language)) or self.voices.get(language)
        if voice is None:
            raise Unspeakable("tts-no-voice-for-language", f"no voice speaks {language!r} "
                              f"(voices: {', '.join(self.languages) or 'none'})",
                              f"configure one in [speak.{language}]; until then these answers are captions only")
        return voice

    def synthesize(self, text: str, persona: str = "", language: str = "") -> Iterator[Speech]:
        """Speech per sentence, each run of sentences in the voice of its language (`language`: the
        answer's, for a sentence written in no script), at `sample_rate`."""
        text = clean_text(text, None)  # whatever its source, no control character reaches a voice
        check_speakable(text, ("en", "zh"))
        runs = language_runs(text, language if language in self.languages else "")
        for language, _ in runs:
            self.voice(language, persona)  # refuse before saying anything
        for language, part in runs:
            if language == "zh" and not has_cjk(part):  # a number alone, in a Chinese answer
                part = chinese_numbers(part)
            yield from self._say(self.voice(language, persona), part)

    def _say(self, voice: Voice, part: str) -> Iterator[Speech]:
        """The pieces of one run of text in one voice: kept ones again, or synthesized (and kept when short)."""
        key = (id(voice.engine), voice.name, part)
        kept = self._greeted.get(key) or self._said.get(key)
        if kept is not None:
            if key in self._said:
                self._said.move_to_end(key)
            self.said_again += 1
            yield from kept
            return
        pieces = []
        for speech in voice.engine.synthesize(part, voice.name):
            pieces.append(self._at_rate(fitted(speech)))
            yield pieces[-1]
        greeting = any(part == text for by_language in self.greetings.values() for text in by_language.values())
        if pieces and (greeting or units(part) <= SAID_UNITS):
            for piece in pieces:
                piece.audio.flags.writeable = False  # given out again: nobody may change it
            if greeting:
                self._greeted[key] = tuple(pieces)
                return
            self._said[key] = tuple(pieces)
            while len(self._said) > SAID_KEPT:
                self._said.popitem(last=False)

    def _at_rate(self, speech: Speech) -> Speech:
        if speech.sample_rate == self.sample_rate:
            return speech
        audio = to_rate(speech.audio, speech.sample_rate, self.sample_rate)
        return Speech(audio, self.sample_rate, resampled(speech.track, self.sample_rate, len(audio)), speech.text)

    def warm(self) -> None:
        """Say each language's opener with every voice, so the first visitor does not pay for the
        engines' warm-up nor wait for the opener (it is kept), and the active persona's greetings."""
        done = set()
        for language, voice in [*self.voices.items(), *((lang, v) for (_, lang), v in self.pinned.items())]:
            if id(voice.engine) not in done:
                done.add(id(voice.engine))
                for _ in self._say(voice, WARM_UP[language]):
                    pass
        for text in self.greetings.get(self.persona, {}).values():
            try:
                for _ in self.synthesize(text, self.persona):
                    pass
            except Unspeakable as fault:  # (a greeting in a language with no voice is shown as a caption)
                _LOGGER.info("the greeting %r is not said: %s", text, fault.code)
