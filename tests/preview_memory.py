"""How the kiosk's memory moves over many voice previews (the console's Listen button), measured
on an in-process kiosk with its real API: `python -m tests.preview_memory [N]` (default 100).

Prints the process's VmRSS after each preview, the engines loaded, and the copies of libespeak-ng
the process has mapped; the last line sums it up (tests/test_console_operator.py checks a few)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

VOICES = ["zf_xiaobei", "zf_xiaoni", "zm_yunxi", "zf_xiaoyi", "zm_yunjian", "tts-piper-joe"]


def rss_mb() -> float:
    """This process's resident memory (VmRSS), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def espeak_copies() -> int:
    """Copies of libespeak-ng.so mapped into this process (by inode)."""
    inodes = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and "libespeak-ng" in fields[5] and "espeakng_loader" not in fields[5]:
            inodes.add(fields[4])
    return len(inodes)


def main(count: int) -> None:
    from runtime.config import PathsConfig, Settings
    from runtime.face import avatars
    from tests.kiosk import ApiKiosk

    with tempfile.TemporaryDirectory(prefix="preview-memory-") as tmp:
        folder = Path(tmp)
        avatars.load_avatar(Settings(paths=PathsConfig(state=str(folder / "seed"))))  # the default avatar
        with ApiKiosk(folder / "kiosk", folder / "seed" / "avatars") as kiosk:
            first = None
            loads = lambda: getattr(getattr(kiosk.device, "samples", None), "loads", "?")  # noqa: E731 - "?": older code
            for n in range(count):
                voice = VOICES[n % len(VOICES)]
                reply = kiosk.http("GET", f"/voices/sample.wav?id={voice}")
                assert reply.status == 200, reply.json
                rss = rss_mb()
                if n == len(VOICES) - 1:
                    first = rss  # every engine loaded once
                print(f"{n + 1:4d} {voice:14s} rss {rss:7.1f} MB  engines loaded {loads()}"
                      f"  espeak copies {espeak_copies()}", flush=True)
            print(f"after {count} previews: {rss:.1f} MB, {rss - first:+.1f} MB since preview {len(VOICES)}; "
                  f"{loads()} engine loads; {espeak_copies()} libespeak-ng copies mapped")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
