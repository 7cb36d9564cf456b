"""Echo benchmark: barging in over the avatar's own voice, with and without echo cancellation.

The real play, capture (microphone) and listen actors, with the simulated room of
runtime/bench/room.py between the speaker and the microphone (real time; room delays 20-150 ms, a
decaying impulse response). The avatar speaks with the default piper voice. For each echo level
(dB over the visitor's voice at the microphone: -20, -10, 0, +6) and [capture] echo_cancel off and
on, with [listen] as configured (barge_in_echo_margin_db included):

- barge-in: 1.5-3 s into an answer a recorded human line starts; detection latency = the listen
  actor's SpeechStarted - the line's first voiced frame (a SpeechStarted before it is a false one);
- false barge-ins: the avatar speaks alone for SOLO_S; every SpeechStarted while it plays counts
  (and cuts the answer, as on a kiosk; the next answer then starts), per minute of its speech;
- ERLE over the stretches where only the echo sounds (the canceller's, so only with it on).

Then the canceller's CPU per second of audio (one core's share), measured on its own.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import numpy as np

from runtime.bench.room import BLOCK, Room, RoomMicrophone, RoomSpeaker, active_db, erle_db, impulse_response
from runtime.bench.stats import percentiles
from runtime.config import Settings
from runtime.core.bus import Bus
from runtime.core.messages import AudioFrame, PlaybackFinished, PlaybackStarted, SpeechAudio, SpeechStarted, Transcript
from runtime.core.supervisor import ActorSpec
from runtime.speech.audio import SAMPLE_RATE, read_audio, to_int16, to_rate

LEVELS_DB = (-20.0, -10.0, 0.0, 6.0)
TRIALS = 6
"""Barge-ins per level and setting."""
SOLO_S = 24.0
"""Seconds of the avatar speaking alone per level and setting (false barge-ins)."""
VISITOR_DB = -26.0
ANSWERS = ("The dinosaur hall is on the second floor, past the gift shop, and the cafe is open until five.",
           "Our planetarium show starts every hour on the hour; tickets are at the front desk.",
           "Today's special exhibition is about the deep sea: lanterns, anglerfish and giant squid.")
LINES = [("speech-human", "beckett.wav", 0.2, 1.4), ("speech-human", "beckett.wav", 1.7, 2.95),
         ("speech-dialogue", "endgame_nagg_nell.wav", 2.2, 3.6), ("speech-human", "two_cities.wav", 0.0, 2.0)]
"""Recorded human lines that talk over the avatar (asset, file, start and end seconds)."""


def _voice(settings: Settings, store) -> list[np.ndarray]:
    from runtime import factories

    engine = factories.tts_factory(settings, store)()
    return [np.concatenate([to_rate(p.audio, p.sample_rate) for p in engine.synthesize(text)]) for text in ANSWERS]


def _lines(store) -> list[tuple[np.ndarray, int]]:
    """Each line at VISITOR_DB and the sample where its voice starts."""
    from runtime.speech.audio import frame_rms

    out = []
    for asset, name, start, end in LINES:
        audio = read_audio(store.resolve(asset) / name)[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        audio = (audio * 10 ** ((VISITOR_DB - active_db(audio)) / 20)).astype(np.float32)
        rms = frame_rms(audio, BLOCK)
        onset = int(np.argmax(rms > 10 ** ((VISITOR_DB - 20) / 20))) * BLOCK
        out.append((audio, onset))
    return out


def _speech(audio: np.ndarray, turn: int, index: int) -> SpeechAudio:
    return SpeechAudio(turn=turn, pcm=to_int16(audio), spans=np.array([[0, len(audio)]], np.int32),
                       targets=np.zeros((1, 5), np.float32), sample_rate=SAMPLE_RATE, index=index)


def kiosk_specs(bus, room: Room, mics: list, settings: Settings, store, echo_cancel: bool) -> list[ActorSpec]:
    """Play, capture (the room's microphone, appended to `mics` when it opens) and listen."""
    from runtime import factories
    from runtime.actors.capture import MicrophoneSource
    from runtime.actors.listen import ListenActor
    from runtime.actors.play import PlayActor

    def microphone(device, take, rate=None):
        mics.append(RoomMicrophone(room, take))
        return mics[-1]

    return [
        ActorSpec("play", lambda: PlayActor("play", bus, output_factory=lambda fill: RoomSpeaker(room, fill),
                                            echo_reference=echo_cancel)),
        ActorSpec("capture", lambda: MicrophoneSource("capture", bus, input_factory=microphone,
                                                      echo_cancel=echo_cancel)),
        ActorSpec("listen", functools.partial(
            ListenActor, "listen", bus, asr_factory=factories.asr_factory(settings, store),
            vad_factory=factories.vad_factory(settings, store), settings=settings.listen)),
    ]


class _Session:
    """The actors on a private bus, with everything they publish kept in order (a background thread)."""

    def __init__(self, settings: Settings, specs_of) -> None:
        import threading

        import zmq

        from runtime.core.supervisor import Supervisor

        self._context = zmq.Context()
        self.bus = Bus(f"inproc://echo-pub-{id(self)}", f"inproc://echo-sub-{id(self)}", context=self._context)
        self.supervisor = Supervisor(self.bus, specs_of(self.bus), settings.supervisor)
        self.messages: list = []
        self._stop = threading.Event()
        self.bus.start()
        self._sub = self.bus.subscriber([AudioFrame, SpeechStarted, PlaybackStarted, PlaybackFinished, Transcript])
        self._thread = threading.Thread(target=self._keep, name="echo-bench-recorder", daemon=True)
        self._thread.start()
        self.supervisor.start()
        self._pub = self.bus.publisher()

    def _keep(self) -> None:
        from runtime.core.bus import receive

        while not self._stop.is_set():
            if self._sub.poll(50):
                self.messages.append(receive(self._sub))

    def of(self, kind, since_ns: int = 0) -> list:
        """Messages of a kind made since a monotonic time."""
        return [m for m in list(self.messages) if isinstance(m, kind) and m.t_ns >= since_ns]

    def wait_for(self, predicate, timeout_s: float):
        """predicate() once true (its value), or None after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.01)
        return None

    def publish(self, msg) -> None:
        """Publish on the actors' bus."""
        self._pub.publish(msg)

    def close(self) -> None:
        """Stop the actors and the bus."""
        self._pub.close()
        self.supervisor.stop()
        self._stop.set()
        self._thread.join(2)
        self._sub.close()
        self._context.term()


def _cell(settings: Settings, store, voices, lines, level_db: float, echo_cancel: bool, seed: int) -> dict:
    """One echo level, cancellation on or off: barge-in latencies, false barge-ins, ERLE."""
    rng = np.random.default_rng(seed)
    delay_s = float(rng.uniform(0.02, 0.15))
    gain = 10 ** ((VISITOR_DB + level_db - np.mean([active_db(v) for v in voices])) / 20)
    room = Room(impulse_response(delay_s, seed=seed), echo_gain=gain)
    mics: list[RoomMicrophone] = []
    session = _Session(settings, lambda bus: kiosk_specs(bus, room, mics, settings, store, echo_cancel))
    latencies, early, missed, erles, solo_ns, solo_falses = [], [], 0, [], 0, 0
    try:
        session.wait_for(lambda: mics and session.of(AudioFrame), 30)
        index = 0

        def answer(audio):
            nonlocal index
            index += 1
            mark = time.monotonic_ns()
            session.publish(_speech(audio, session.bus.turns.current, index))
            started = session.wait_for(lambda: [p for p in session.of(PlaybackStarted, mark) if p.index == index], 10)
            return mark, (started or [None])[0]

        for trial in range(TRIALS):
            mark, started = answer(voices[trial % len(voices)])
            if started is None:
                continue
            line, voiced = lines[trial % len(lines)]
            at = room.sample_now() + int(rng.uniform(1.5, 3.0) * SAMPLE_RATE)
            room.say(line, at)
            onset_ns = room.time_of(at + voiced)
            end_ns = room.time_of(at + len(line))
            barge = session.wait_for(lambda mark=mark, end_ns=end_ns: [
                s for s in session.of(SpeechStarted, mark) if s.during_playback] or time.monotonic_ns() > end_ns + 1e9,
                15)
            barge = barge[0] if isinstance(barge, list) else None
            if barge is None:
                missed += 1
            elif barge.t_ns < onset_ns:
                early.append(round((onset_ns - barge.t_ns) / 1e6))
            else:
                latencies.append((barge.t_ns - onset_ns) / 1e6)
            time.sleep(max(0.0, (end_ns - time.monotonic_ns()) / 1e9) + 2.5)  # the line's endpoint and final

        solo_until = time.monotonic() + SOLO_S
        while time.monotonic() < solo_until:
            audio = voices[index % len(voices)]
            mark, started = answer(audio)
            if started is None:
                continue
            done = session.wait_for(lambda mark=mark: [f for f in session.of(PlaybackFinished, mark)
                                                       if f.index == index],
                                    len(audio) / SAMPLE_RATE + 5)
            if not done:
                continue
            solo_ns += done[0].heard_ns - started.heard_ns
            solo_falses += len([s for s in session.of(SpeechStarted, mark) if s.during_playback])
            if echo_cancel and not done[0].interrupted:
                first = int((started.heard_ns - room.t0_ns) * SAMPLE_RATE // 1e9) + SAMPLE_RATE // 2
                last = int((done[0].heard_ns - room.t0_ns) * SAMPLE_RATE // 1e9)
                value = erle_db(room, session.of(AudioFrame), mics[0].first, first, last)
                if value is not None:
                    erles.append(value)
            time.sleep(0.8)  # the room's tail; an utterance of the echo ends
    finally:
        session.close()
    minutes = solo_ns / 60e9
    return {"echo_db": level_db, "echo_cancel": echo_cancel, "room_delay_ms": round(delay_s * 1000),
            "barge_in_ms": percentiles(latencies), "barge_ins_heard": len(latencies), "barge_ins": TRIALS,
            "false_before_visitor": len(early), "early_ms": early, "missed": missed,
            "false_per_min": round(solo_falses / minutes, 2) if minutes else None,
            "solo_s": round(solo_ns / 1e9, 1), "erle_db": round(float(np.median(erles)), 1) if erles else None}


def canceller_cpu(seconds: float = 20.0) -> dict:
    """CPU of the canceller per second of audio while the avatar speaks (percent of one core)."""
    from runtime.engines.aec_webrtc import WebRtcCanceller
    from runtime.speech.aec import EchoCanceller
    from runtime.speech.echo_tap import SpeakerTap

    rng = np.random.default_rng(0)
    n = int(seconds * SAMPLE_RATE)
    voice = (np.convolve(rng.standard_normal(n), np.hanning(12), mode="same") * 0.02).astype(np.float32)
    mic = np.convolve(voice, impulse_response(0.05))[:n].astype(np.float32)
    canceller, tap, t0 = EchoCanceller(WebRtcCanceller()), SpeakerTap(SAMPLE_RATE), 10**12
    busy = 0.0
    for i in range(0, n - 4 * BLOCK, BLOCK):
        played = tap.block(voice[i + 3 * BLOCK:i + 4 * BLOCK], t0 + int((i + 3 * BLOCK) * 1e9 / SAMPLE_RATE))
        begin = time.process_time()
        canceller.reference(tap.reference(played))
        canceller.cancel(mic[i:i + BLOCK], t0 + int(i * 1e9 / SAMPLE_RATE))
        busy += time.process_time() - begin
    return {"percent_of_one_core": round(100 * busy / seconds, 2), "frames": canceller.frames}


def run(out: Path | None, settings: Settings) -> dict:
    """Run the benchmark, print its table, return (and with `out`, write) the numbers."""
    from runtime.places import Places

    store = Places.of(settings.paths).models
    voices, lines = _voice(settings, store), _lines(store)
    cpu = canceller_cpu()
    print(f"echo canceller (WebRTC AEC3): {cpu['percent_of_one_core']} % of one core while the avatar speaks")
    print(f"[listen] barge_in_echo_margin_db = {settings.listen.barge_in_echo_margin_db}, "
          f"barge_in_min_dbfs = {settings.listen.barge_in_min_dbfs}; visitor at {VISITOR_DB} dBFS")
    print("| echo dB | cancel | room ms | barge-in p50 ms | p95 ms | heard | false before visitor (ms early) | missed "
          "| false / min alone | ERLE dB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    cells = []
    for seed, level in enumerate(LEVELS_DB):
        for cancel in (False, True):
            cell = _cell(settings, store, voices, lines, level, cancel, seed)
            cells.append(cell)
            lat = cell["barge_in_ms"]
            print(f"| {level:+.0f} | {'on' if cancel else 'off'} | {cell['room_delay_ms']} | {lat.get('p50')} | "
                  f"{lat.get('p95')} | {cell['barge_ins_heard']}/{cell['barge_ins']} | {cell['false_before_visitor']} "
                  f"{cell['early_ms'] or ''}"
                  f"| {cell['missed']} | {cell['false_per_min']} ({cell['solo_s']} s) | {cell['erle_db']} |",
                  flush=True)
    report = {"cpu": cpu, "visitor_dbfs": VISITOR_DB, "cells": cells,
              "echo_margin_db": settings.listen.barge_in_echo_margin_db}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "echo.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report
