"""speak actor: answer chunks in, speech audio with a sample-exact viseme track out.

Each chunk is synthesized as soon as it arrives, sentence by sentence, by the voice of its
language (and of the persona that answered: runtime.engines.voices); between sentences the control
socket is read, so an Interrupt stops synthesis and the base class drops queued chunks of the old
turn. Text no voice can say (a language without a voice, symbols only) is logged with its code
and skipped: the caption still shows it.
"""

from __future__ import annotations

import logging

import numpy as np

from runtime.core.actor import Actor
from runtime.core.errors import RuntimeFault, Unspeakable
from runtime.core.messages import Interrupt, ReplyChunk, SetVoice, SpeechAudio
from runtime.speech.audio import to_int16

_LOGGER = logging.getLogger(__name__)


class SpeakActor(Actor):
    """Text-to-speech for every chunk of the current turn."""

    abandon_on_stop = True

    subscriptions = (ReplyChunk,)
    controls = (Interrupt, SetVoice)

    def __init__(self, name: str, bus, *, engine_factory, voice_factory=None, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self._engine_factory = engine_factory
        self._voice_factory = voice_factory
        """voice id -> engine, for voices switched at run time (None: the voice is fixed)."""
        self.engine = None

    def setup(self) -> None:
        """Load the voices and synthesize once with each, so the first visitor does not pay for warm-up."""
        self.engine = self._engine_factory()
        self.engine.warm()

    def on_control(self, msg) -> None:
        """Switch voice: the next sentence is spoken with it; a voice that fails to load keeps the old one."""
        if not isinstance(msg, SetVoice) or self._voice_factory is None:
            return
        try:
            engine = self._voice_factory(msg.voice)
            for _ in engine.synthesize("Hello."):
                pass
        except (RuntimeFault, OSError, ValueError) as err:
            _LOGGER.warning("voice %s not loaded, keeping the current one: %s", msg.voice, err)
            return
        self.engine = engine
        _LOGGER.info("voice: %s", msg.voice)

    def handle(self, msg) -> None:
        """Synthesize one chunk (or pass the end-of-answer marker on)."""
        if not isinstance(msg, ReplyChunk) or msg.turn < self.turn:
            return
        if msg.last:
            self.publish(_empty(msg, self.engine.sample_rate))
            return
        if not msg.text.strip():
            return
        try:
            for part, speech in enumerate(self.engine.synthesize(msg.text, msg.persona, msg.language)):
                if self.check_control() and (self.turn > msg.turn or self.stop_requested):
                    _LOGGER.info("turn %d: speech interrupted in chunk %d", msg.turn, msg.index)
                    return
                track = speech.track
                self.publish(SpeechAudio(
                    turn=msg.turn, pcm=to_int16(speech.audio), spans=track.spans, targets=track.targets,
                    visemes=track.visemes, sample_rate=speech.sample_rate, index=msg.index, part=part,
                    text=msg.text, emotion=msg.emotion, intensity=msg.intensity))
        except Unspeakable as fault:
            _LOGGER.warning("turn %d: chunk %d not spoken (%s)", msg.turn, msg.index, fault.code)
            _LOGGER.debug("turn %d: %s", msg.turn, fault)


def _empty(msg: ReplyChunk, sample_rate: int) -> SpeechAudio:
    return SpeechAudio(turn=msg.turn, pcm=np.zeros(0, np.int16), spans=np.zeros((0, 2), np.int32),
                       targets=np.zeros((0, 5), np.float32), sample_rate=sample_rate, index=msg.index, last=True)
