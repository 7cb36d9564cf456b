"""Sound devices through sounddevice (PortAudio): list them and find one by name or index."""

from __future__ import annotations

import logging
import time

from runtime.core.errors import CaptureFault

_LOGGER = logging.getLogger(__name__)


def devices(kind: str = "input") -> list[dict]:
    """Devices with at least one channel of the kind (`input` or `output`), with their index."""
    import sounddevice

    key = f"max_{kind}_channels"
    return [dict(d, index=i) for i, d in enumerate(sounddevice.query_devices()) if d[key] > 0]


def describe(kind: str = "input") -> str:
    """One line per device, for error messages and `edge-talker devices`."""
    found = devices(kind)
    if not found:
        return f"(no {kind} devices)"
    return "\n".join(f"  [{d['index']}] {d['name']} ({d[f'max_{kind}_channels']} ch, "
                     f"{d['default_samplerate']:.0f} Hz)" for d in found)


def find(device: str | int | None, kind: str = "input") -> dict:
    """The device to open: an index, a (case-insensitive) name fragment, or None for the default."""
    import sounddevice

    try:
        if device in (None, "", "default"):
            info = sounddevice.query_devices(kind=kind)
            return dict(info, index=info["index"])
        if isinstance(device, int) or str(device).isdigit():
            info = sounddevice.query_devices(int(device))
            if info[f"max_{kind}_channels"] > 0:
                return dict(info, index=int(device))
        else:
            matches = [d for d in devices(kind) if str(device).lower() in d["name"].lower()]
            if matches:
                return matches[0]
    except (sounddevice.PortAudioError, ValueError) as err:
        raise _missing(device, kind, str(err)) from err
    raise _missing(device, kind, "not found")


def _missing(device, kind: str, why: str) -> CaptureFault:
    return CaptureFault(f"{'capture' if kind == 'input' else 'play'}-device-missing",
                        f"no {kind} device {device!r} ({why}); available:\n{describe(kind)}",
                        "pick one with [capture] device (a name fragment or an index); "
                        "`edge-talker devices` lists them")


STALL_S = 1.0
"""A device whose callback has not run for this long is gone (unplugged, driver died)."""


class _PortAudioDevice:
    """What a microphone and a speaker share: a PortAudio stream (`_stream`) whose callback sets
    `last_callback`; `_what` names the device in log lines."""

    _what = "device"

    def start(self) -> None:
        """Start the stream's callbacks."""
        self._stream.start()

    def gone(self) -> bool:
        """The device stopped calling back (unplugged, or its driver failed)."""
        return not self._stream.active or time.monotonic() - self.last_callback > STALL_S

    def close(self) -> None:
        """Stop and release the device (quietly: it may be gone already)."""
        try:
            self._stream.stop()
            self._stream.close()
        except Exception as err:  # noqa: BLE001 - PortAudio errors of a vanished device
            _LOGGER.debug("closing the %s: %s", self._what, err)


class InputDevice(_PortAudioDevice):
    """A microphone: a sounddevice input stream whose callback calls take(block) with float32
    mono samples at `rate`, on PortAudio's thread."""

    _what = "microphone"

    def __init__(self, device: str | int | None, take, *, rate: int | None = None) -> None:
        import sounddevice

        info = find(device, "input")
        self.rate = int(rate or info["default_samplerate"])
        self.name = info["name"]
        self._take = take
        self.last_callback = time.monotonic()
        try:
            self._stream = sounddevice.InputStream(device=info["index"], channels=1, samplerate=self.rate,
                                                   blocksize=self.rate // 50, dtype="float32",
                                                   callback=self._callback)
        except sounddevice.PortAudioError as err:
            raise CaptureFault("capture-device-busy", f"cannot open {info['name']!r}: {err}; available:\n"
                               f"{describe('input')}", "close other programs using it, or pick "
                               "another device with [capture] device") from err

    @property
    def latency_s(self) -> float:
        """How long a sample takes from the microphone to the callback, as PortAudio says (seconds)."""
        return float(getattr(self._stream, "latency", 0.0) or 0.0)

    def _callback(self, indata, frames, time_info, status) -> None:
        self.last_callback = time.monotonic()
        if status:
            _LOGGER.debug("microphone status: %s", status)
        self._take(indata[:, 0].copy())


class OutputDevice(_PortAudioDevice):
    """A speaker: a sounddevice output stream whose callback calls fill(out, dac_delay_s).

    fill writes float32 mono samples into `out` (shape (frames,)); dac_delay_s is how long until
    the first of them is heard, from the device's DAC time when it is sane, else its latency.
    """

    silent = False
    """True for the silent clock (no speaker)."""
    _what = "speaker"

    def __init__(self, device: str | int | None, fill, *, rate: int | None = None, block_s: float = 0.02) -> None:
        import sounddevice

        info = find(device, "output")
        self.rate = int(rate or info["default_samplerate"])
        self._fill = fill
        self._stream = sounddevice.OutputStream(device=info["index"], channels=1, samplerate=self.rate,
                                                blocksize=int(self.rate * block_s), dtype="float32",
                                                callback=self._callback)
        self.name = info["name"]
        self.last_callback = time.monotonic()

    def _callback(self, outdata, frames, time_info, status) -> None:
        self.last_callback = time.monotonic()
        delay = time_info.outputBufferDacTime - time_info.currentTime
        if not 0.0 <= delay < 1.0:  # some drivers report nonsense: fall back to the nominal latency
            delay = float(self._stream.latency)
        self._fill(outdata[:, 0], delay)


class SilentOutput(OutputDevice):
    """No speaker attached: the same callbacks, paced by the monotonic clock, into nothing.

    The playback clock (and so the face and the recording) runs exactly as with a speaker.
    """

    silent = True

    def __init__(self, device, fill, *, rate: int | None = None, block_s: float = 0.02) -> None:
        import threading

        self.rate = int(rate or 48000)
        self._fill = fill
        self._block = int(self.rate * block_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="silent-output", daemon=True)
        self.name = "(no speaker: silent clock)"

    def _run(self) -> None:
        import time

        import numpy as np

        buffer = np.zeros(self._block, np.float32)
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._fill(buffer, 0.0)
            next_at += self._block / self.rate
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> None:
        """Start the clock thread."""
        self._thread.start()

    def gone(self) -> bool:
        """The clock never goes away."""
        return False

    def close(self) -> None:
        """Stop the clock thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)


def open_output(device: str, fill) -> OutputDevice:
    """The speaker `device` ("" = the default, "none" = none), or the silent clock when the
    default is asked for and there is no speaker; a named device that is missing is an error."""
    if device == "none":
        return SilentOutput(None, fill)
    try:
        return OutputDevice(device or None, fill)
    except (CaptureFault, OSError) as err:
        if device:
            raise
        _LOGGER.info("no speaker (%s); the playback clock runs silently", str(err).splitlines()[0])
        return SilentOutput(None, fill)


def has_any(kind: str) -> bool:
    """True when PortAudio is present and lists at least one device of the kind."""
    try:
        return bool(devices(kind))
    except (OSError, ImportError):  # no PortAudio library: no devices either
        return False
