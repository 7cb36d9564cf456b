"""Sound devices through sounddevice (PortAudio): list them and find one by name or index."""

from __future__ import annotations

from runtime.errors import CaptureFault


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
