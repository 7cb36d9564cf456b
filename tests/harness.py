"""Run real actors on a real bus and record what they publish (every wait has a timeout)."""

from __future__ import annotations

import threading
import time

import numpy as np
import soundfile
import zmq

from runtime.config import SupervisorConfig
from runtime.core.bus import receive
from runtime.core.errors import RuntimeFault
from runtime.core.messages import REGISTRY, Message, VideoFrame
from runtime.core.supervisor import ActorSpec, Supervisor
from runtime.speech.audio import frame_rms


class Recorder:
    """Subscribes to every topic (but video frames when `frames` is False: a kiosk's face makes
    about 8 MB of them a second) in a background thread and keeps what arrives, in order."""

    def __init__(self, bus, frames: bool = True) -> None:
        self.bus = bus
        self.topics = [cls for cls in REGISTRY.values() if frames or cls is not VideoFrame]
        self.messages: list[Message] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def _run(self) -> None:
        sock = self.bus.subscriber(self.topics)
        try:
            self._ready.set()
            while not self._stop.is_set():
                if sock.poll(50):
                    self.messages.append(receive(sock, zmq.NOBLOCK))
        finally:
            sock.close()

    def of(self, cls: type[Message]) -> list[Message]:
        """Messages of one type, in arrival order."""
        return [m for m in list(self.messages) if isinstance(m, cls)]

    def wait_for(self, predicate, timeout_s: float = 30.0) -> bool:
        """Wait until predicate(self) is true."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.02)
        return bool(predicate(self))

    def close(self) -> None:
        """Stop recording."""
        self._stop.set()
        self._thread.join(5)


class Running:
    """A supervisor with the given actors, started and supervising (failed actors are restarted);
    use as a context manager."""

    def __init__(self, bus, specs: list[ActorSpec], settings: SupervisorConfig | None = None, *,
                 frames: bool = True) -> None:
        self.bus = bus
        self.recorder = Recorder(bus, frames)
        self.supervisor = Supervisor(bus, specs, settings or SupervisorConfig())
        self._stop = threading.Event()
        self._runner: threading.Thread | None = None
        self.fault: BaseException | None = None
        """Why supervision ended early (a restart storm, a hung actor), if it did."""

    def _supervise(self) -> None:
        try:
            self.supervisor.run(self._stop)
        except RuntimeFault as err:  # a storm or a hang, reported to the test through self.fault
            self.fault = err

    def __enter__(self) -> Recorder:
        self.supervisor.start()
        self._runner = threading.Thread(target=self._supervise, name="test-supervisor", daemon=True)
        self._runner.start()
        return self.recorder

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._runner.join(5)
        self.supervisor.stop()
        self.recorder.close()


def write_wav(path, audio: np.ndarray, rate: int = 16000) -> str:
    """Write float32 audio as 16-bit WAV; returns the path as str."""
    soundfile.write(str(path), audio, rate, subtype="PCM_16")
    return str(path)


def scaled_to(audio: np.ndarray, dbfs_target: float) -> np.ndarray:
    """Audio scaled so its RMS over the voiced part (above -50 dBFS frames) is dbfs_target."""
    rms = frame_rms(audio, 320)
    voiced = rms[rms > 10 ** (-50 / 20)]
    level = float(np.sqrt(np.mean(voiced ** 2))) if voiced.size else 1e-9
    return (audio * (10 ** (dbfs_target / 20) / level)).astype(np.float32)
