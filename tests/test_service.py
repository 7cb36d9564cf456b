"""The kiosk appliance: `edge-talker service install` into a scratch root, checked by systemd's
own tools (verify, security, sysusers, tmpfiles)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, require_tool


@pytest.fixture(autouse=True)
def _systemd() -> None:
    require_tool("systemd-analyze", "systemd")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runtime", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, check=False)


@pytest.fixture
def root(tmp_path):
    """A scratch root with the stock systemd units (verify resolves the unit's dependencies)."""
    scratch = tmp_path / "root"
    (scratch / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", scratch / "usr/lib/systemd/system", symlinks=True)
    return scratch


def _exec_path(unit: str) -> str:
    return re.search(r"^ExecStart=(\S+)", unit, re.M).group(1)


def test_install_places_a_unit_systemd_accepts_with_a_tight_sandbox(root):
    done = cli("service", "install", "--root", str(root), "--no-models")
    assert done.returncode == 0, done.stderr
    assert "systemctl enable --now edge-talker" in done.stdout
    unit_path = root / "etc/systemd/system/edge-talker.service"
    unit = unit_path.read_text(encoding="utf-8")
    executable = _exec_path(unit)
    assert executable == str(Path(sys.executable).with_name("edge-talker")), "runs this environment's edge-talker"
    assert "ExecStartPre=" + executable + " check-config" in unit
    for key in ("Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=always", "StartLimitBurst=",
                "User=edge-talker", "StateDirectory=edge-talker", "ProtectSystem=strict", "NoNewPrivileges=yes",
                "SystemCallFilter=@system-service", "DeviceAllow=char-alsa"):
        assert key in unit, key
    settings = [line for line in unit.splitlines() if not line.startswith("#")]
    for breaks_a_gpu_box in ("PrivateDevices=", "MemoryDenyWriteExecute=", "ProcSubset="):
        assert not [line for line in settings if line.startswith(breaks_a_gpu_box)], breaks_a_gpu_box

    # verify resolves ExecStart inside the root: give it the executable there.
    fake = root / executable.lstrip("/")
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    verify = subprocess.run(["systemd-analyze", "verify", f"--root={root}", "/etc/systemd/system/edge-talker.service"],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and not verify.stdout.strip() and not verify.stderr.strip(), verify.stderr

    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit_path)],
                              capture_output=True, text=True, check=False)
    exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout).group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= 3.0, security.stdout[-2000:]

    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^edge-talker:x:\d+:\d+:.*:/var/lib/edge-talker:/usr/sbin/nologin$", passwd, re.M)
    groups = (root / "etc/group").read_text()
    for group in ("audio", "video", "render", "input"):
        assert re.search(rf"^{group}:x:\d+:.*edge-talker", groups, re.M), group
    for folder in ("etc/edge-talker", "var/lib/edge-talker", "var/lib/edge-talker/models", "var/cache/edge-talker"):
        assert stat.S_IMODE((root / folder).stat().st_mode) == 0o750, folder


def test_reinstall_keeps_the_operators_config_and_uninstall_keeps_state_unless_purged(root, tmp_path):
    store = tmp_path / "store"
    (store / "vad-silero").mkdir(parents=True)
    (store / "vad-silero" / "silero_vad.onnx").write_bytes(b"model bytes")
    assert cli("service", "install", "--root", str(root), "--models-from", str(store)).returncode == 0
    assert (root / "var/lib/edge-talker/models/vad-silero/silero_vad.onnx").read_bytes() == b"model bytes"
    config = root / "etc/edge-talker/config.toml"
    config.write_text('[think]\ntype = "echo"\n', encoding="utf-8")
    again = cli("service", "install", "--root", str(root), "--no-models")
    assert again.returncode == 0 and "kept" in again.stdout
    assert config.read_text(encoding="utf-8") == '[think]\ntype = "echo"\n'
    assert cli("service", "status", "--root", str(root)).returncode == 0

    assert cli("service", "uninstall", "--root", str(root)).returncode == 0
    assert not (root / "etc/systemd/system/edge-talker.service").exists()
    assert config.exists() and (root / "var/lib/edge-talker/models").exists()
    assert cli("service", "status", "--root", str(root)).returncode == 1
    assert cli("service", "uninstall", "--root", str(root), "--purge").returncode == 0
    assert not config.exists() and not (root / "var/lib/edge-talker").exists()


def test_the_installed_config_is_valid():
    from runtime.config import load_config
    from runtime.service import _CONFIG

    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"edge-talker-config-{os.getpid()}.toml"
    path.write_text(_CONFIG, encoding="utf-8")
    try:
        load_config(path)
    finally:
        path.unlink()


def test_the_sandbox_lets_through_what_the_config_names_and_a_broker_that_does_not_resolve_installs_nothing(root):
    config = root / "etc/edge-talker/config.toml"
    config.parent.mkdir(parents=True)
    dropin = root / "etc/systemd/system/edge-talker.service.d/network.conf"
    unit = root / "etc/systemd/system/edge-talker.service"

    config.write_text('[remote]\ntype = "mqtt"\nhost = "broker.invalid"\n', encoding="utf-8")
    refused = cli("service", "install", "--root", str(root), "--no-models")
    assert refused.returncode != 0 and "error[service-broker-unresolved]" in refused.stderr, refused.stderr
    assert "hint:" in refused.stderr and not unit.exists() and not dropin.exists(), "nothing half-installed"

    config.write_text('[think]\ntype = "openai"\nurl = "http://llm.invalid:8000/v1"\n', encoding="utf-8")
    refused = cli("service", "install", "--root", str(root), "--no-models")
    assert refused.returncode != 0 and "error[service-server-unresolved]" in refused.stderr, refused.stderr
    assert "[think] url" in refused.stderr and not unit.exists(), "nothing half-installed"

    config.write_text('[remote]\ntype = "mqtt"\nhost = "192.0.2.7"\n\n'
                      '[think]\ntype = "openai"\nurl = "http://198.51.100.20:8000/v1"\n\n'
                      '[api]\nenabled = true\nhost = "0.0.0.0"\ntoken_env = "KIOSK_TOKEN"\n', encoding="utf-8")
    done = cli("service", "install", "--root", str(root), "--no-models")
    assert done.returncode == 0, done.stderr
    allowed = re.findall(r"^IPAddressAllow=(\S+)$", dropin.read_text(encoding="utf-8"), re.M)
    assert allowed[:2] == ["192.0.2.7", "198.51.100.20"], f"the broker and the LLM server get through: {allowed}"
    assert "192.168.0.0/16" in allowed and "10.0.0.0/8" in allowed, allowed
    verify = subprocess.run(["systemd-analyze", "verify", f"--root={root}", f"/{unit.relative_to(root)}"],
                            capture_output=True, text=True, check=False)
    assert "network.conf" not in verify.stderr, verify.stderr  # systemd parses the drop-in

    config.write_text('[remote]\ntype = "mqtt"\nhost = "localhost"\n', encoding="utf-8")  # loopback: already allowed
    assert cli("service", "install", "--root", str(root), "--no-models").returncode == 0
    assert not dropin.exists(), "a drop-in from an older config is removed"


def test_a_wheel_installed_outside_the_checkout_carries_the_unit_and_the_model_manifest(tmp_path):
    """systemd/ and models/ at the top level are the sources of truth; the wheel must carry them,
    so `service install` and `models list` work where no checkout is."""
    import zipfile

    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps",
                            "-q", "-w", str(tmp_path / "wheel")], capture_output=True, text=True, timeout=300,
                           check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    site = tmp_path / "site"
    with zipfile.ZipFile(next((tmp_path / "wheel").glob("edge_talker-*.whl"))) as wheel:
        wheel.extractall(site)
    assert (site / "runtime/store/manifest.toml").read_bytes() == (REPO / "models/manifest.toml").read_bytes()
    assert (site / "runtime/systemd/edge-talker.service").read_bytes() == \
        (REPO / "systemd/edge-talker.service").read_bytes()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import runtime; print(runtime.__file__)"], capture_output=True,
                           text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    target = tmp_path / "image"
    done = subprocess.run([sys.executable, "-m", "runtime", "service", "install", "--root", str(target),
                           "--no-models"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (target / "etc/systemd/system/edge-talker.service").is_file()
    listed = subprocess.run([sys.executable, "-m", "runtime", "models", "list"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=120, check=False)
    assert listed.returncode == 0 and "llm-qwen2.5-1.5b" in listed.stdout, listed.stdout + listed.stderr
