"""A fleet of real `edge-talker run` processes on a real Mosquitto broker: a fleet command answered
by every device, a restart that keeps the applied config, the broker restarting mid-session, the
will on SIGKILL, and TLS with client certificates, passwords from the environment and an ACL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runtime.bench.broker import free_port
from tests.broker import Broker
from tests.conftest import REPO, run_cli, seed_state, wait_for

DEVICE_CONFIG = """
[capture]
type = "console"
[think]
type = "echo"
[play]
device = "none"
[display]
window = "off"
fps = 5
[paths]
state = "{state}"
[remote]
type = "mqtt"
host = "{host}"
port = {port}
device_id = "{device}"
reconnect_max_s = 2
state_interval_s = 5
{remote}
"""


class DeviceProcess:
    """`edge-talker run` as a device of the fleet; its output goes to a file."""

    def __init__(self, folder: Path, device: str, broker: Broker, default_avatar: Path, *, host: str = "127.0.0.1",
                 port: int = 0, remote: str = "", env: dict | None = None) -> None:
        self.device, self.broker = device, broker
        self.folder = folder / device
        state = seed_state(self.folder / "state", default_avatar)
        self.config = self.folder / "config.toml"
        self.config.write_text(DEVICE_CONFIG.format(state=state, host=host, port=port or broker.port, device=device,
                                                    remote=remote))
        self.output = self.folder / "output.log"
        self.started = time.time()
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "runtime", "run", "--config", str(self.config)],
                                         cwd=REPO, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "SDL_VIDEODRIVER": "dummy", **(env or {})})

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.output.read_text(errors="replace")

    def expect(self, text: str, timeout_s: float = 60) -> None:
        """Wait until the process printed `text`."""
        assert wait_for(lambda: text in self.log(), timeout_s), f"{text!r} not printed:\n{self.log()[-3000:]}"

    def type(self, line: str) -> None:
        """What a visitor types at the console."""
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def status(self, *extra: str) -> dict:
        """Its retained status."""
        return self.broker.retained(f"edge-talker/{self.device}/status", 10, *extra)

    def stop(self, sig=signal.SIGTERM) -> int:
        """Stop it by its pid; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            self.proc.stdin.close()


def remote(broker: Broker, *args: str, timeout: float = 20) -> tuple[int, list[dict], str]:
    """`edge-talker remote ARGS --broker ...`: exit code, the replies, stderr."""
    out = run_cli("remote", *args, "--broker", f"127.0.0.1:{broker.port}", "--timeout", str(timeout))
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines() if line.strip()], out.stderr


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, default_avatar):
    """A broker and two devices, kiosk-a and kiosk-b (the last test of this module stops them)."""
    folder = tmp_path_factory.mktemp("fleet")
    broker = Broker(folder).start()
    devices = {name: DeviceProcess(folder, name, broker, default_avatar) for name in ("kiosk-a", "kiosk-b")}
    try:
        for device in devices.values():
            device.expect("ready:")
            assert wait_for(lambda d=device: d.status().get("online"), 30)
        yield broker, devices
    finally:
        for device in devices.values():
            device.stop(signal.SIGKILL)
        broker.stop()


def test_a_fleet_command_is_answered_by_every_device(fleet):
    broker, devices = fleet
    code, replies, err = remote(broker, "--fleet", "volume", '{"level": 0.5}', "--expect", "2")
    assert code == 0, err
    assert sorted(r["device"] for r in replies) == ["kiosk-a", "kiosk-b"]
    assert all(r["ok"] and r["result"]["changed"] == ["play.volume"] for r in replies)
    # Bad input to the fleet: every device refuses it, and says so.
    code, replies, _ = remote(broker, "--fleet", "volume", '{"level": "max"}', "--expect", "2")
    assert code == 1 and len(replies) == 2 and {r["error"]["code"] for r in replies} == {"command-invalid"}
    for name in devices:
        assert wait_for(lambda n=name: broker.retained(f"edge-talker/{n}/state")["volume"] == 0.5, 30)


def test_config_that_needs_a_restart_restarts_the_process_and_survives_it(fleet):
    broker, devices = fleet
    device = devices["kiosk-a"]
    since = device.status()["since"]
    body = json.dumps({"toml": "[think]\nmax_reply_tokens = 100\n[play]\nvolume = 0.5\n", "version": "v7"})
    code, replies, err = remote(broker, "kiosk-a", "config.apply", body)
    assert code == 0, err
    result = replies[0]["result"]
    assert result["version"] == "v7" and result["restart"] is True and "think.max_reply_tokens" in result["changed"]
    device.expect("restarting:")
    # The same process (systemd sees one service) comes back online with the applied config.
    assert wait_for(lambda: device.log().count("ready:") == 2, 60), device.log()[-3000:]
    assert device.proc.poll() is None
    assert wait_for(lambda: (s := device.status()).get("online") and s["since"] >= since, 30)
    state = wait_for(lambda: (s := broker.retained("edge-talker/kiosk-a/state"))["uptime_s"] < 60 and s, 30)
    assert state["config_version"] == "v7"
    code, replies, _ = remote(broker, "kiosk-a", "config.get")
    assert replies[0]["result"]["config"]["think"]["max_reply_tokens"] == 100
    assert replies[0]["result"]["version"] == "v7"
    # The restart command: the reply first, then the same restart.
    code, replies, err = remote(broker, "kiosk-a", "restart")
    assert code == 0 and replies[0]["result"] == {"restarting": True}, err
    assert wait_for(lambda: device.log().count("ready:") == 3, 60), device.log()[-3000:]
    assert wait_for(lambda: broker.retained("edge-talker/kiosk-a/state")["config_version"] == "v7", 30)


def test_the_broker_restarting_mid_session_changes_nothing_for_the_visitor(fleet):
    broker, devices = fleet
    device = devices["kiosk-b"]
    broker.stop()
    device.expect("disconnected from the broker", 30)
    device.type("hello while the broker is away")
    device.expect("avatar> You said: hello while the broker is away", 30)
    broker.start()
    # Reconnected: the status is republished (the broker kept nothing) and commands work again.
    for each in devices.values():
        assert wait_for(lambda e=each: e.status().get("online"), 30), each.log()[-2000:]
    code, replies, err = remote(broker, "kiosk-b", "say", '{"text": "I am back."}')
    assert code == 0 and replies[0]["ok"], err
    device.expect("avatar> I am back.")


def test_will_on_sigkill_and_offline_status_on_a_clean_stop(fleet):
    """Last of the module: it stops the fleet."""
    _, devices = fleet
    devices["kiosk-a"].stop(signal.SIGKILL)
    assert wait_for(lambda: devices["kiosk-a"].status() == {"online": False}, 30)  # the will, retained
    assert devices["kiosk-b"].stop(signal.SIGTERM) == 0
    status = devices["kiosk-b"].status()
    assert status["online"] is False and status["since"] > 0  # said by the device itself
    assert "Traceback" not in devices["kiosk-b"].log()


# --- TLS, credentials and the ACL -------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(folder: Path) -> Path:
    """A CA, a server certificate for localhost, and client certificates for kiosk-1 and ops."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "kiosk-1", "ops"):
        cn = "localhost" if name == "server" else name
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=folder)
        ext = ["-extfile", "san.ext"] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-out", f"{name}.pem", *ext, cwd=folder)
    return folder


ACL = """\
# Each device publishes only under its own P = edge-talker/<user>, reads only its own commands and
# the fleet's, and may answer on edge-talker/reply/#; the operator may do everything.
pattern write edge-talker/%u/status
pattern write edge-talker/%u/state
pattern write edge-talker/%u/events
pattern read edge-talker/%u/cmd/#
pattern read edge-talker/fleet/cmd/#
pattern write edge-talker/reply/#

user ops
topic readwrite edge-talker/#
"""


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("secure")
    pki = make_pki(folder / "pki")
    (folder / "acl").write_text(ACL)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(folder / "passwords"), "kiosk-2", "s3cret"], check=True,
                   timeout=30)
    subprocess.run(["mosquitto_passwd", "-b", str(folder / "passwords"), "ops", "ops-pass"], check=True, timeout=30)
    password_port = free_port()
    tls = f"cafile {pki / 'ca.pem'}\ncertfile {pki / 'server.pem'}\nkeyfile {pki / 'server.key'}\n"
    extra = textwrap.dedent(f"""\
        per_listener_settings true
        {tls}require_certificate true
        use_identity_as_username true
        acl_file {folder / 'acl'}
        listener {password_port} 127.0.0.1
        {tls}password_file {folder / 'passwords'}
        acl_file {folder / 'acl'}
        """)
    broker = Broker(folder, extra=extra).start()
    broker.password_port, broker.pki = password_port, pki
    yield broker
    broker.stop()


def test_tls_with_client_certificates_and_an_acl(secure_broker, tmp_path, default_avatar):
    broker, pki = secure_broker, secure_broker.pki
    ops = ["--cafile", str(pki / "ca.pem"), "--cert", str(pki / "ops.pem"), "--key", str(pki / "ops.key")]
    tls = f'[remote.tls]\nca = "{pki / "ca.pem"}"\ncert = "{pki / "kiosk-1.pem"}"\nkey = "{pki / "kiosk-1.key"}"'
    device = DeviceProcess(tmp_path, "kiosk-1", broker, default_avatar, host="localhost",
                           remote=f"require_tls = true\n{tls}")
    try:
        device.expect("connected to mqtts://localhost")
        assert wait_for(lambda: broker.retained("edge-talker/kiosk-1/status", 10, *ops).get("online"), 30)
        out = run_cli("remote", "kiosk-1", "state", "--broker", f"localhost:{broker.port}", "--ca", str(pki / "ca.pem"),
                      "--cert", str(pki / "ops.pem"), "--key", str(pki / "ops.key"))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["result"]["device"] == "kiosk-1"
        # Another device may not speak for kiosk-1: the broker refuses its publish, the status stays.
        impostor = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(broker.password_port), "-V", "5",
                                   "-q", "1", "--cafile", str(pki / "ca.pem"), "-u", "kiosk-2", "-P", "s3cret",
                                   "-t", "edge-talker/kiosk-1/status", "-r", "-m", '{"online": false}', "-d"],
                                  capture_output=True, text=True, timeout=30)
        assert "rc135" in impostor.stdout or "Not authorized" in impostor.stdout + impostor.stderr, impostor
        assert broker.retained("edge-talker/kiosk-1/status", 10, *ops)["online"] is True
        # Without TLS, or with a wrong password, nobody gets in.
        out = run_cli("remote", "kiosk-1", "state", "--broker", f"localhost:{broker.port}", "--timeout", "2")
        assert out.returncode == 1 and "error[remote-unreachable]" in out.stderr
        out = run_cli("remote", "kiosk-1", "state", "--broker", f"localhost:{broker.password_port}", "--ca",
                      str(pki / "ca.pem"), "--username", "ops", "--password-env", "OPS_PASSWORD", "--timeout", "2",
                      env={"OPS_PASSWORD": "wrong"})
        assert out.returncode == 1 and "error[remote-unreachable]" in out.stderr and "refused" in out.stderr
        out = run_cli("remote", "kiosk-1", "state", "--broker", f"localhost:{broker.password_port}", "--ca",
                      str(pki / "ca.pem"), "--username", "ops", "--password-env", "OPS_PASSWORD",
                      env={"OPS_PASSWORD": "ops-pass"})
        assert out.returncode == 0 and json.loads(out.stdout)["ok"] is True, out.stderr
    finally:
        assert device.stop() == 0


def test_a_password_from_the_environment_and_a_refusing_acl(secure_broker, tmp_path, default_avatar):
    """kiosk-2 logs in with its password, but claims to be kiosk-3: the ACL refuses what it
    publishes, and the device says so in its log."""
    broker, pki = secure_broker, secure_broker.pki
    remote_cfg = f'username = "kiosk-2"\npassword_env = "KIOSK_PASSWORD"\n[remote.tls]\nca = "{pki / "ca.pem"}"'
    device = DeviceProcess(tmp_path, "kiosk-3", broker, default_avatar, host="localhost", port=broker.password_port,
                           remote=remote_cfg, env={"KIOSK_PASSWORD": "s3cret"})
    try:
        device.expect("connected to mqtts://localhost")
        device.expect("error[mqtt-publish-refused]")
        assert "s3cret" not in device.log()
    finally:
        assert device.stop() == 0


def test_a_missing_password_variable_refuses_to_start(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[capture]\ntype = "console"\n[think]\ntype = "echo"\n[remote]\ntype = "mqtt"\n'
                      'username = "kiosk"\npassword_env = "NOT_SET_ANYWHERE"\n')
    out = run_cli("run", "--config", str(config), env={"SDL_VIDEODRIVER": "dummy"}, input="")
    assert out.returncode != 0 and "error[remote-password-missing]" in out.stderr


def test_require_tls_without_tls_is_a_config_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[remote]\ntype = "mqtt"\nrequire_tls = true\n')
    out = run_cli("check-config", "--config", str(config))
    assert out.returncode == 2 and "require_tls" in out.stderr
    config.write_text('[remote]\ntype = "mqtt"\ndevice_id = "fleet"\n')
    out = run_cli("check-config", "--config", str(config))
    assert out.returncode == 2 and "device_id" in out.stderr
