"""A real Mosquitto broker per test (or module), on a free loopback port, and the mosquitto_*
command line clients as the operator. Every wait has a timeout."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

from runtime.bench.broker import MOSQUITTO, Mosquitto
from tests.conftest import require_tool, wait_for


def needs_mosquitto() -> None:
    """Fail when the broker or its clients are not installed (`make test` installs them)."""
    require_tool(MOSQUITTO, "mosquitto")
    require_tool("mosquitto_rr", "mosquitto-clients")


class Broker(Mosquitto):
    """The broker with the operator's command line clients (mosquitto_rr, _sub, _pub)."""

    def __init__(self, folder: Path, *, extra: str = "", port: int | None = None) -> None:
        needs_mosquitto()
        super().__init__(folder, extra=extra, port=port)

    def start(self) -> Broker:
        """Start and wait until it accepts connections."""
        super().start()
        return self

    # --- the operator's command line clients -------------------------------------------------

    def client_args(self, *extra: str) -> list[str]:
        """Connection arguments for mosquitto_pub/sub/rr."""
        return ["-h", "127.0.0.1", "-p", str(self.port), *extra]

    def retained(self, topic: str, timeout_s: float = 10, *extra: str) -> dict:
        """The retained JSON message of a topic (mosquitto_sub --retained-only; it gives up on a live
        message, so ask again until the timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = max(1, int(deadline - time.monotonic()))
            out = subprocess.run(["mosquitto_sub", *self.client_args(*extra), "-t", topic, "-C", "1", "-W", str(left),
                                  "--retained-only"], capture_output=True, text=True, timeout=left + 5, check=False)
            if out.returncode == 0 and out.stdout.strip():
                return json.loads(out.stdout)
            if time.monotonic() >= deadline:
                raise AssertionError(f"no retained message on {topic}: {out.stderr}")
            time.sleep(0.1)

    def request(self, topic: str, body: str | bytes, timeout_s: float = 30, *extra: str,
                correlation: str = "") -> dict:
        """Publish a request (MQTT v5, ResponseTopic + CorrelationData) and return the reply: with
        mosquitto_rr, or for bodies too big for a command line (bytes) mosquitto_sub + mosquitto_pub -f."""
        response = f"edge-talker/reply/test-{time.monotonic_ns()}"
        correlation = correlation or f"c-{time.monotonic_ns()}"
        if isinstance(body, bytes):
            return self._request_file(topic, body, response, correlation, timeout_s, extra)
        args = ["mosquitto_rr", *self.client_args(*extra), "-t", topic, "-e", response, "-W", str(int(timeout_s)),
                "-q", "1", "-D", "publish", "correlation-data", correlation, "-m", body]
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s + 5, check=False)
        assert out.returncode == 0 and out.stdout.strip(), f"no reply on {topic}: {out.stderr}"
        return json.loads(out.stdout)

    def _request_file(self, topic, body: bytes, response: str, correlation: str, timeout_s, extra) -> dict:
        path = self.folder / f"body-{time.monotonic_ns()}.json"
        path.write_bytes(body)
        # stdbuf: mosquitto_sub block-buffers a pipe, and its SUBACK line must arrive before we publish.
        sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", *self.client_args(*extra), "-V", "5", "-d",
                                "-t", response, "-C", "1", "-W", str(int(timeout_s))],
                               stdout=subprocess.PIPE, text=True)
        try:
            lines = []
            for line in sub.stdout:  # -d prints the SUBACK before any message: then it is safe to publish
                lines.append(line)
                if "SUBACK" in line:
                    break
            subprocess.run(["mosquitto_pub", *self.client_args(*extra), "-V", "5", "-t", topic, "-f", str(path),
                            "-q", "1", "-D", "publish", "response-topic", response,
                            "-D", "publish", "correlation-data", correlation], check=True, timeout=30)
            for line in sub.stdout:
                if line.startswith("{"):
                    return json.loads(line)
            raise AssertionError(f"no reply on {topic}: {lines}")
        finally:
            sub.kill()
            sub.wait(5)
            path.unlink()

    def publish(self, topic: str, message: str, *extra: str) -> None:
        """mosquitto_pub one message (QoS 1)."""
        subprocess.run(["mosquitto_pub", *self.client_args(*extra), "-t", topic, "-m", message, "-q", "1"],
                       check=True, timeout=10)


class Watch:
    """A subscriber (paho, MQTT v5) that keeps every message of some topics: (topic, payload, retained)."""

    def __init__(self, broker: Broker, *topics: str, **tls) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload), bool(m.retain)))
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert subscribed.wait(10), "could not subscribe"

    def of(self, topic: str) -> list[dict]:
        """The JSON messages of one topic so far."""
        return [json.loads(p) for t, p, _ in list(self.messages) if t == topic and p]

    def wait(self, predicate, timeout_s: float = 30):
        """Wait until predicate(self) is truthy; returns it (None on timeout)."""
        return wait_for(lambda: predicate(self), timeout_s, 0.05)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
