"""play actor: the speaker, and the playback clock everyone else follows.

Speech pieces are queued (resampled to the device rate); the audio callback copies from the
queue into the device buffer and notes, for every piece, when its first and last samples reach
the listener (DAC time). The actor publishes those as PlaybackStarted / PlaybackPosition /
PlaybackFinished. An Interrupt empties the queue at once: the next callback plays silence.

The speech of a turn answered ahead (a speculative transcript) is held until the final transcript
of that turn commits it; then it plays from the next block on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from runtime.core.actor import Actor
from runtime.core.errors import PlayFault
from runtime.core.ledger import TurnLedger
from runtime.core.messages import (
    Interrupt,
    PlaybackFinished,
    PlaybackPosition,
    PlaybackStarted,
    SetMute,
    SetVolume,
    SpeechAudio,
    Transcript,
)
from runtime.core.reopen import Reopener
from runtime.core.threads import Inbox
from runtime.speech.audio import to_float, to_rate
from runtime.speech.echo_tap import Played, SpeakerTap

_LOGGER = logging.getLogger(__name__)


@dataclass
class _Piece:
    turn: int
    index: int
    part: int
    audio: np.ndarray
    """float32 at the device rate."""
    ratio: float
    """Piece rate / device rate (to report positions in the piece's own samples)."""
    played: int = 0


class PlayActor(Actor):
    """Plays the answer's speech and publishes when each piece is heard."""

    subscriptions = (SpeechAudio, Transcript)
    tick_interval_s = 0.5
    retry_s = 5.0
    controls = (Interrupt, SetVolume, SetMute)

    def __init__(self, name: str, bus, *, output_factory, volume: float = 1.0, mute: bool = False,
                 echo_reference: bool = False, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self._output_factory = output_factory
        self.echo_reference = echo_reference
        """Publish what the speaker plays (EchoReference) for the microphone's echo canceller."""
        self._tap: SpeakerTap | None = None
        self.volume, self.mute = volume, mute
        self._pieces: list[_Piece] = []
        self._ledger = TurnLedger(newest=self.turn)
        """Its `held`: turns answered ahead whose final transcript has not come yet (their speech waits)."""
        self._lock = threading.Lock()
        self._heard: Inbox[list] | None = None
        """What the callback saw reach the listener (Playback* messages), for the actor to publish."""
        self._buffered_s = 0.0
        """Audio handed to the device but not yet heard, as of the last callback (seconds)."""
        self.output = None
        self._speaker = Reopener(self, "speaker", _LOGGER)

    def setup(self) -> None:
        """Open the speaker (or the silent clock when there is none) and start it."""
        self._heard = self.inbox(self._publish_all)
        self.output = self._output_factory(self._fill)
        if self.echo_reference:
            self._tap = SpeakerTap(self.output.rate)
        self.output.start()
        _LOGGER.info("output: %s at %d Hz", self.output.name, self.output.rate)

    def tick(self) -> None:
        """A speaker that went away: the silent clock takes over at once (the face, the timeline
        and the recording go on), and the speaker is reopened every few seconds until it is back."""
        from runtime.hardware.sound import SilentOutput

        if self.output.gone():
            lost, self.output = self.output, SilentOutput(None, self._fill, rate=self.output.rate)
            self.output.start()
            lost.close()
            self._speaker.lost(PlayFault("play-device-lost", f"the speaker {lost.name!r} stopped playing",
                                         "check its cable or USB port; it is reopened as soon as it is back"),
                               "the speaker went away; playing on the silent clock")
        else:
            self._speaker.retry(self._reopen)

    def _reopen(self) -> str | None:
        """The speaker instead of the silent clock, when it is back (its name), else None."""
        candidate = self._output_factory(self._fill)
        if candidate.silent:
            candidate.close()
            return None
        silent, self.output = self.output, candidate
        if self._tap is not None and self._tap.rate != candidate.rate:
            self._tap = SpeakerTap(candidate.rate)
        candidate.start()
        silent.close()
        return candidate.name

    def teardown(self) -> None:
        """Close the device."""
        if self.output is not None:
            self.output.close()

    def handle(self, msg) -> None:
        """Queue a piece of speech of the current turn; hold or release a turn answered ahead."""
        if isinstance(msg, Transcript):
            with self._lock:
                held = msg.turn in self._ledger.held
                self._ledger.note(msg)
            if held and msg.final:
                _LOGGER.debug("turn %d: the answer prepared ahead is committed", msg.turn)
            return
        if not isinstance(msg, SpeechAudio) or msg.last or not len(msg.pcm):
            return
        audio = to_rate(to_float(msg.pcm), msg.sample_rate, self.output.rate)
        piece = _Piece(msg.turn, msg.index, msg.part, audio, msg.sample_rate / self.output.rate)
        with self._lock:
            self._pieces.append(piece)

    def on_interrupt(self, msg: Interrupt) -> None:
        """Drop everything queued; the callback goes silent on its next block."""
        with self._lock:
            dropped, self._pieces = self._pieces, []
            self._ledger.interrupt(msg)
        # What is already in the device's buffer still plays: the silence is heard after it.
        now = time.monotonic_ns() + int(self._buffered_s * 1e9)
        for piece in dropped:
            if piece.played:
                self.publish(PlaybackFinished(turn=piece.turn, index=piece.index, part=piece.part,
                                              interrupted=True, heard_ns=now))
        if dropped:
            _LOGGER.info("turn %d: playback flushed (%d piece(s))", msg.turn, len(dropped))

    def on_control(self, msg) -> None:
        """An operator changed the volume or muted the speaker: heard from the next block on."""
        if isinstance(msg, SetVolume):
            self.volume = msg.level
        elif isinstance(msg, SetMute):
            self.mute = msg.on
        _LOGGER.info("speaker: volume %.2f%s", self.volume, ", muted" if self.mute else "")

    # --- PortAudio's thread -------------------------------------------------------------------

    def _fill(self, out: np.ndarray, delay_s: float) -> None:
        self._buffered_s = delay_s + len(out) / self.output.rate
        now = time.monotonic_ns()
        heard0 = now + int(delay_s * 1e9)
        rate = self.output.rate
        written = 0
        gain = 0.0 if self.mute else self.volume
        heard: list = []
        with self._lock:
            while written < len(out) and self._pieces and self._pieces[0].turn not in self._ledger.held:
                piece = self._pieces[0]
                take = min(len(out) - written, len(piece.audio) - piece.played)
                at = {"turn": piece.turn, "index": piece.index, "part": piece.part,
                      "heard_ns": heard0 + int(written / rate * 1e9)}
                if piece.played == 0:
                    heard.append(PlaybackStarted(**at))
                out[written:written + take] = piece.audio[piece.played:piece.played + take] * gain
                heard.append(PlaybackPosition(sample=int(piece.played * piece.ratio), **at))
                piece.played += take
                written += take
                if piece.played >= len(piece.audio):
                    heard.append(PlaybackFinished(**{**at, "heard_ns": heard0 + int(written / rate * 1e9)}))
                    self._pieces.pop(0)
        out[written:] = 0.0
        played = self._tap.block(out, heard0) if self._tap is not None else None
        if played is not None:
            heard.append(played)
        if heard:
            self._heard.put(heard)

    # --- the actor's thread -------------------------------------------------------------------

    def _publish_all(self, heard: list) -> None:
        for msg in heard:
            self.publish(self._tap.reference(msg) if isinstance(msg, Played) else msg)
