"""The fleet link ([remote], MQTT) and the REST API ([api]) sections, and what counts as this
machine only (an API there needs no token)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, model_validator

from runtime.core.section import Section


class RemoteTls(Section):
    """[remote.tls] TLS to the broker: on when `ca` or `cert` is set."""

    ca: str = Field("", description='CA certificate (PEM file) that signed the broker\'s certificate; "system" = the '
                                    "system's trusted CAs; empty (and no cert) = no TLS.")
    cert: str = Field("", description="Client certificate (PEM file), for brokers that know devices by certificate.")
    key: str = Field("", description="Private key (PEM file) of the client certificate.")
    insecure: bool = Field(False,
        description="Do not check the broker's host name against its certificate (tests only).")

    @property
    def enabled(self) -> bool:
        """TLS is configured."""
        return bool(self.ca or self.cert)

    @model_validator(mode="after")
    def _pair(self) -> RemoteTls:
        if bool(self.cert) != bool(self.key):
            raise ValueError("cert and key go together: set both or neither")
        return self


RESERVED_DEVICE_IDS = ("fleet", "reply")
"""Topic levels under topic_prefix that are not devices: fleet commands and operators' replies."""


class RemoteConfig(Section):
    """[remote] fleet control over MQTT v5: status, state, commands with replies (see README)."""

    type: Literal["off", "mqtt"] = Field("off", description="off, or mqtt to join the fleet's broker.")
    host: str = Field("localhost", min_length=1, description="Broker host name or address.")
    port: int = Field(0, ge=0, le=65535, description="Broker port; 0 = 1883, or 8883 with TLS.")
    device_id: str = Field("", pattern=r"^([A-Za-z0-9_.-]{1,64})?$",
                           description="This device's name in topics; empty = the host name.")
    topic_prefix: str = Field("edge-talker", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                              description="First topic levels of every topic (no wildcards).")
    tls: RemoteTls = RemoteTls()
    require_tls: bool = Field(False, description="Refuse to run without [remote.tls] (no clear-text broker link).")
    username: str = Field("", description="User name at the broker; empty = anonymous or certificate.")
    password_env: str = Field("", pattern=r"^$|^[A-Za-z_][A-Za-z0-9_]*$",
                              description="Environment variable holding the password (no secrets in this file).")
    keepalive_s: int = Field(30, ge=5, le=1200,
        description="MQTT keepalive: the broker declares us gone after 1.5x this (seconds).")
    reconnect_max_s: int = Field(60, ge=1, le=3600,
        description="Longest wait between reconnection attempts; doubles from 1 s up to this (seconds).")
    state_interval_s: float = Field(60.0, ge=5, le=3600,
        description="The retained state is republished this often (uptime, health) and on every change (seconds).")
    share_transcripts: bool = Field(False,
        description="Put what the visitor and the avatar say in events and state (privacy: off).")
    homeassistant: bool = Field(False, description="Publish Home Assistant MQTT discovery for this device.")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_.-]+$",
                                  description="Home Assistant's discovery prefix.")

    @property
    def broker_port(self) -> int:
        """The port to connect to."""
        return self.port or (8883 if self.tls.enabled else 1883)

    @model_validator(mode="after")
    def _tls_required(self) -> RemoteConfig:
        if self.type == "mqtt" and self.require_tls and not self.tls.enabled:
            raise ValueError("require_tls is set but [remote.tls] has no ca or cert")
        if self.device_id in RESERVED_DEVICE_IDS:
            raise ValueError(f"device_id {self.device_id!r} is a topic level of the fleet; pick another name")
        return self


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiConfig(Section):
    """[api] the REST API and web console (off by default)."""

    enabled: bool = Field(False, description="Serve the REST API and the web console.")
    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on; 127.0.0.1 = this machine only.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port; 0 = any free port (printed at start).")
    token_env: str = Field("", pattern=r"^$|^[A-Za-z_][A-Za-z0-9_]*$",
                           description="Environment variable holding the bearer token; required off loopback.")
    max_upload_mb: float = Field(10.0, gt=0, le=100, description="Largest photo upload (MB).")
    captions: bool = Field(False, description="Send what is said on /events for the console's captions (privacy: off).")
    preview_fps: int = Field(10, ge=1, le=30, description="Frame rate of the face preview at /live.mjpeg.")
    bench_dir: str = Field("bench-out", min_length=1,
        description="Where `edge-talker bench --out DIR` wrote its report (GET /bench/latest); relative to the "
                    "working directory.")

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ApiConfig:
        if self.enabled and not is_loopback(self.host) and not self.token_env:
            raise ValueError(f"host {self.host!r} is reachable from the network: set token_env")
        return self
