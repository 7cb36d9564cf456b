"""Control-plane benchmark on loopback: the MQTT command round trip (request -> reply, as an
operator sees it), the REST API's request latency, and `say` -> the first audio sample heard,
from the fleet link and from `POST /say`.

The product runs as its own process (`edge-talker run`, typed input, echo answers, no speaker:
the silent playback clock), with a private Mosquitto broker and a private state directory, so
the device's own applied config is never touched. The first audio sample is the playback clock's
`heard_ns` in the device's turn event (CLOCK_MONOTONIC, shared by the processes of one machine).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runtime.bench.broker import Mosquitto, end
from runtime.bench.stats import percentiles
from runtime.config import RemoteConfig, Settings
from runtime.core.errors import RuntimeFault

DEVICE = "bench-kiosk"
BROKER = "allow_anonymous true\nset_tcp_nodelay true"
"""Mosquitto holds small writes for the peer's delayed ACK (Nagle) unless told not to: ~40 ms per hop."""
ROUNDS = {"status": 50, "volume": 30}
SAYS = ["Welcome to the museum.", "The cafe is on the left.", "Tickets are sold at the entrance.",
        "The tour starts at ten.", "Please enjoy your visit.", "The lift is behind the shop.",
        "Photos are welcome here.", "We close at six today."]


def _config(state: Path, port: int, api_port: int) -> str:
    import tomli_w

    return tomli_w.dumps({
        "capture": {"type": "console"}, "think": {"type": "echo"}, "play": {"device": "none"},
        "display": {"window": "off"}, "caption": {"enabled": False}, "paths": {"state": str(state)},
        "remote": {"type": "mqtt", "host": "127.0.0.1", "port": port, "device_id": DEVICE},
        "api": {"enabled": True, "port": api_port},
    })


def _wait_healthy(operator, timeout_s: float = 180.0) -> None:
    """Until the device answers and every actor is ready."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        replies = operator.request(DEVICE, "state", b"{}", timeout_s=2)
        if replies and replies[0].body.get("result", {}).get("health", {}).get("ok") \
                and "capture" in replies[0].body["result"]["health"]["actors"]:
            return
        time.sleep(0.5)
    raise RuntimeFault("bench-device-not-ready", "the device did not come up", "run `edge-talker run` to see why")


def _first_audio_ms(say, events: queue.Queue, texts: list[str], timeout_s: float = 30.0) -> list[float]:
    """For each text: say(text) -> turn; the time from just before the request to the first audio
    sample of that turn (the turn event's first_audio_ns)."""
    times = []
    for text in texts:
        sent_ns = time.monotonic_ns()
        turn = say(text)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                event = events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event.get("type") == "turn" and event.get("turn") == turn:
                times.append((event["first_audio_ns"] - sent_ns) / 1e6)
                break
        time.sleep(0.5)  # let the sentence play: each say starts from a quiet avatar
    return times


def measure(operator, client) -> dict:
    """The numbers, against a running device reachable through `operator` (MQTT) and `client` (HTTP)."""
    import threading

    round_trips: dict[str, list[float]] = {}
    for name, rounds in ROUNDS.items():
        times = []
        for i in range(rounds):
            body = json.dumps({"level": 0.9 if i % 2 else 1.0}).encode() if name == "volume" else b"{}"
            replies = operator.request(DEVICE, name, body, timeout_s=10)
            if not replies or not replies[0].body.get("ok"):
                raise RuntimeFault("bench-command-failed", f"{name}: {replies}", "see the device's log")
            times.append(replies[0].round_trip_ms)
        round_trips[name] = times
    http_ms = []
    for _ in range(ROUNDS["status"]):
        started = time.perf_counter()
        client.status()
        http_ms.append((time.perf_counter() - started) * 1000)
    mqtt_events: queue.Queue = queue.Queue()
    operator.watch(f"edge-talker/{DEVICE}/events", lambda payload: mqtt_events.put(json.loads(payload)))
    sse_events: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [sse_events.put(e) for e in client.events()], daemon=True).start()

    def mqtt_say(text: str) -> int:
        replies = operator.request(DEVICE, "say", json.dumps({"text": text}).encode(), timeout_s=10)
        return replies[0].body["result"]["turn"]

    return {"round_trip_ms": {k: percentiles(v, 2) for k, v in round_trips.items()},
            "http_status_ms": percentiles(http_ms, 2),
            "say_to_first_audio_ms": {"mqtt": percentiles(_first_audio_ms(mqtt_say, mqtt_events, SAYS)),
                                      "http": percentiles(_first_audio_ms(client.say, sse_events, SAYS))}}


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Start a broker and the product, measure, print, return (and optionally write) the numbers."""
    from runtime.bench.broker import free_port
    from runtime.control.operator import Operator
    from runtime.sdk import Client

    with tempfile.TemporaryDirectory(prefix="edge-talker-bench-") as tmp:
        folder = Path(tmp)
        broker = Mosquitto(folder, extra=BROKER).start()
        config = folder / "device.toml"
        api_port = free_port()
        config.write_text(_config(folder / "state", broker.port, api_port), encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "runtime", "run", "--config", str(config)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
        operator = None
        try:
            operator = Operator(RemoteConfig(type="mqtt", host="127.0.0.1", port=broker.port))
            _wait_healthy(operator)
            report = measure(operator, Client(f"http://127.0.0.1:{api_port}"))
        finally:
            if operator is not None:
                operator.close()
            end(proc, 20)
            broker.stop()
    rt = report["round_trip_ms"]
    print("control benchmark — loopback broker, the product as its own process")
    for name, numbers in rt.items():
        print(f"  MQTT round trip, {name:7}          : p50 {numbers['p50']} ms, p95 {numbers['p95']} ms "
              f"(n={numbers['n']})")
    http = report["http_status_ms"]
    print(f"  HTTP GET /status                  : p50 {http['p50']} ms, p95 {http['p95']} ms (n={http['n']})")
    for way, label in (("mqtt", "say (MQTT)"), ("http", "POST /say ")):
        say = report["say_to_first_audio_ms"][way]
        print(f"  {label} -> first audio sample  : p50 {say['p50']} ms, p95 {say['p95']} ms (n={say['n']})")
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "control.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report
