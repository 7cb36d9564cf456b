"""`edge-talker service install|uninstall|status`: the product as a systemd service.

install places the unit (its ExecStart pointing at this environment's `edge-talker`), the service
user (sysusers), its directories (tmpfiles), drop-ins for the GPU found on this box, a network
drop-in that lets the sandbox reach what the config names (the MQTT broker; the LAN when the
console listens beyond loopback), /etc/edge-talker/config.toml (only when absent: an operator's
config is never replaced) and the models in the state directory, then prints the systemctl
commands to start it. `--root DIR` installs into a scratch root (images, tests) and touches
nothing else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path

from runtime.core.errors import RuntimeFault

UNIT = "edge-talker.service"
_STOCK_EXEC = "/opt/edge-talker/venv/bin/edge-talker"
_USER = "edge-talker"


_CONFIG = """\
# EdgeTalker on this kiosk. Only what differs from the embedded defaults belongs here; every key,
# its default and its range are documented in config/default.toml of the source.
# Check a change before restarting: edge-talker check-config --config /etc/edge-talker/config.toml

# [personas.guide]
# name = "Mia"
# system_prompt = "You are Mia, the friendly guide of this kiosk. ..."

# [record]
# directory = "/var/lib/edge-talker/recordings"   # off by default: recordings show visitors
"""


class ServiceFault(RuntimeFault):
    """The service cannot be installed or removed (service-*)."""

    stage = "service"


def _data(name: str) -> str:
    return resources.files("runtime").joinpath("systemd", name).read_text(encoding="utf-8")


class Layout:
    """Where everything goes, under a root ("/" for the real system)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.unit = root / "etc/systemd/system" / UNIT
        self.dropins = root / "etc/systemd/system" / f"{UNIT}.d"
        self.sysusers = root / "etc/sysusers.d/edge-talker.conf"
        self.tmpfiles = root / "etc/tmpfiles.d/edge-talker.conf"
        self.config = root / "etc/edge-talker/config.toml"
        self.state = root / "var/lib/edge-talker"
        self.models = self.state / "models"


_LAN = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "link-local")
"""Private networks: who may reach a console that listens beyond loopback."""


def network_allowed(root: Path, config_text: str) -> list[str]:
    """IPAddressAllow= entries the sandbox needs for this config (the unit allows only loopback):
    the broker's and the LLM server's addresses (resolved now: systemd takes no host names, so the
    resolvers too), and
    the private networks when the REST console listens beyond loopback."""
    from runtime.config import LANGUAGES, is_loopback, parse_config

    settings = parse_config(config_text, "config.toml")
    allowed: list[str] = []
    servers = []  # (host, what it is, its config key, the fault code when it does not resolve)
    if settings.remote.type == "mqtt":
        servers.append((settings.remote.host, "the broker", "[remote] host", "service-broker-unresolved"))
    if getattr(settings.think, "url", ""):
        servers.append((settings.think.host, "the LLM server", "[think] url", "service-server-unresolved"))
    for key, section in (("[asr]", settings.asr), *((f"[speak.{lang}]", getattr(settings.speak, lang))
                                                     for lang in LANGUAGES)):
        if getattr(section, "uri", ""):
            servers.append((section.host, "the speech server", f"{key} uri", "service-server-unresolved"))
    for host, what, key, code in servers:
        if is_loopback(host):
            continue
        try:
            allowed.append(str(ipaddress.ip_address(host)))
        except ValueError:
            try:
                found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except OSError as err:
                raise ServiceFault(code, f"{what} {host!r} ({key}) does not resolve: {err}",
                                   f"the sandbox needs its address: put its IP address in {key}, or make the "
                                   "name resolve on this box; nothing was installed") from err
            addresses = [info[4][0] for info in found] + _resolvers(root)
            allowed += [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    if settings.api.enabled and not is_loopback(settings.api.host):
        allowed += _LAN
    return list(dict.fromkeys(allowed))


def _resolvers(root: Path) -> list[str]:
    """The name servers of root/etc/resolv.conf."""
    try:
        lines = (root / "etc/resolv.conf").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    servers = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            with contextlib.suppress(ValueError):
                servers.append(str(ipaddress.ip_address(fields[1].split("%")[0])))
    return servers


def install(root: Path, *, executable: Path, models_from: Path | None, out=sys.stdout) -> int:
    """Install the service under root; returns 0."""
    real = root == Path("/")
    if real and os.geteuid() != 0:
        raise ServiceFault("service-not-root", "installing the service changes /etc and creates a user",
                           "run it as root: sudo edge-talker service install")
    if not shutil.which("systemd-sysusers") or not shutil.which("systemd-tmpfiles"):
        raise ServiceFault("service-no-systemd", "systemd-sysusers / systemd-tmpfiles not found",
                           "install systemd (apt-get install systemd) on this machine")
    at = Layout(root)
    try:
        config_text = at.config.read_text(encoding="utf-8") if at.config.exists() else _CONFIG
    except (OSError, UnicodeDecodeError) as err:
        raise ServiceFault("service-config-unreadable", f"cannot read {at.config}: {err}",
                           "fix or remove the file; nothing was installed") from err
    network = network_allowed(root, config_text)  # before anything is written: a bad config changes nothing
    unit = _data(UNIT).replace(_STOCK_EXEC, str(executable))
    _write(at.unit, unit, 0o644)
    _write(at.sysusers, _data("edge-talker.sysusers"), 0o644)
    _write(at.tmpfiles, _data("edge-talker.tmpfiles"), 0o644)
    dropins = []
    if Path("/proc/driver/nvidia").exists():
        dropins.append("nvidia")
    if Path("/etc/nv_tegra_release").exists():
        dropins.append("jetson")
    for name in dropins:
        _write(at.dropins / f"{name}.conf", _data(f"edge-talker.service.d/{name}.conf.example"), 0o644)
    if network:
        _write(at.dropins / "network.conf", "# Written by `edge-talker service install` from the config; run it again "
               "after changing\n# [remote] host or [api] host.\n[Service]\n"
               + "".join(f"IPAddressAllow={a}\n" for a in network), 0o644)
        dropins.append("network")
        print(f"network: the service may reach {', '.join(network)} (besides loopback)", file=out)
    elif (at.dropins / "network.conf").exists():
        (at.dropins / "network.conf").unlink()
    root_args = [] if real else [f"--root={root}"]
    _system(["systemd-sysusers", *root_args, at.sysusers.name])
    _system(["systemd-tmpfiles", "--create", *root_args, at.tmpfiles.name])
    if at.config.exists():
        print(f"kept {at.config} (already there)", file=out)
    else:
        _write(at.config, _CONFIG, 0o640)
        print(f"wrote {at.config}", file=out)
    if models_from is not None and models_from.is_dir() and models_from.resolve() != at.models.resolve():
        copied = _copy_tree(models_from, at.models)
        print(f"models: {copied} files from {models_from} into {at.models}", file=out)
    if real:
        _system(["chown", "-R", f"{_USER}:{_USER}", str(at.state)])
        _system(["chgrp", _USER, str(at.config)])
    print(f"installed {at.unit}" + (f" (+ drop-ins: {', '.join(dropins)})" if dropins else ""), file=out)
    print("next:\n  systemctl daemon-reload\n  systemctl enable --now edge-talker\n"
          "  journalctl -u edge-talker -f", file=out)
    return 0


def uninstall(root: Path, *, purge: bool, out=sys.stdout) -> int:
    """Remove the unit, its drop-ins and snippets; with purge also config, state and cache."""
    at = Layout(root)
    for path in (at.unit, at.sysusers, at.tmpfiles):
        if path.exists():
            path.unlink()
            print(f"removed {path}", file=out)
    if at.dropins.exists():
        shutil.rmtree(at.dropins)
    if purge:
        for folder in (at.config.parent, at.state, root / "var/cache/edge-talker"):
            if folder.exists():
                shutil.rmtree(folder)
                print(f"removed {folder}", file=out)
    else:
        print(f"kept {at.config.parent} and {at.state} (--purge removes them)", file=out)
    print("next:\n  systemctl disable --now edge-talker   (before this command, if it runs)\n"
          "  systemctl daemon-reload", file=out)
    return 0


def status(root: Path, out=sys.stdout) -> int:
    """Say what is installed and, on a live system, what systemd says; 0 when installed."""
    at = Layout(root)
    installed = at.unit.exists()
    print(f"unit:   {at.unit} ({'installed' if installed else 'not installed'})", file=out)
    print(f"config: {at.config} ({'present' if at.config.exists() else 'absent'})", file=out)
    print(f"models: {at.models} ({'present' if at.models.exists() else 'absent'})", file=out)
    try:
        pwd.getpwnam(_USER)
        print(f"user:   {_USER}", file=out)
    except KeyError:
        print(f"user:   {_USER} (absent)", file=out)
    if root == Path("/") and shutil.which("systemctl"):
        state = subprocess.run(["systemctl", "is-active", UNIT], capture_output=True, text=True, check=False)
        print(f"state:  {state.stdout.strip() or state.stderr.strip()}", file=out)
    return 0 if installed else 1


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    tmp.replace(path)


def _system(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        raise ServiceFault("service-step-failed", f"`{' '.join(argv)}` failed: {done.stderr.strip()[-300:]}",
                           "see the message above; nothing else was changed after this step")


def _copy_tree(source: Path, target: Path) -> int:
    """Hard links where the file system allows, copies elsewhere; returns the number of files."""
    count = 0
    for path in source.rglob("*"):
        if not path.is_file() or path.name.endswith((".tmp", ".lock")):
            continue
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            if dest.stat().st_size == path.stat().st_size:
                continue
            dest.unlink()
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy2(path, dest)
        count += 1
    return count
