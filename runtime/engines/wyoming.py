"""One request to a Wyoming server (Home Assistant's protocol for local speech services), as the
Wyoming engines make them: a fresh connection each, its own event loop (callable from any thread),
and every failure as a coded fault of the engine's stage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from pydantic import Field

from runtime.core.errors import RuntimeFault
from runtime.core.section import Backend

T = TypeVar("T")


class WyomingServer(Backend):
    """What the Wyoming backends share: the server's address."""

    uri: str = Field(pattern=r"^tcp://[^\s/:]+:[0-9]{1,5}$",
                     description='The Wyoming server, e.g. "tcp://127.0.0.1:10300".')
    timeout_s: float = Field(10.0, gt=0, le=120, description="Longest wait for the server's answer (seconds).")

    @property
    def host(self) -> str:
        """The server's host name or address."""
        return self.uri[len("tcp://"):].rsplit(":", 1)[0]


class WyomingLink:
    """The address of one server and how its failures are told: `kind` prefixes the codes
    ("asr" -> asr-server-unreachable), `key` names the config key to fix."""

    def __init__(self, uri: str, timeout_s: float, fault: type[RuntimeFault], kind: str, key: str) -> None:
        self.uri, self.timeout_s = uri, timeout_s
        self._fault, self._kind, self._key = fault, kind, key

    def run(self, request: Awaitable[T]) -> T:
        """A request's coroutine run to its end within timeout_s."""
        try:
            return asyncio.run(asyncio.wait_for(request, self.timeout_s))
        except TimeoutError as err:
            raise self.fault("timeout", f"the Wyoming server {self.uri} did not answer within {self.timeout_s:g} s",
                             f"the server may be overloaded; raise the timeout_s beside {self._key}") from err
        except ValueError as err:  # not Wyoming's JSON header lines
            raise self.fault("invalid", f"{self.uri} does not speak the Wyoming protocol: {err}",
                             f"check that {self._key} is a Wyoming {self._kind.upper()} server") from err
        except OSError as err:  # after connecting (connect failures are -unreachable)
            raise self.fault("lost", f"the connection to the Wyoming server {self.uri} broke: {err}",
                             "check the server's log; the next request connects again") from err

    async def connect(self):
        """An open client (disconnect it when done)."""
        from wyoming.client import AsyncClient

        client = AsyncClient.from_uri(self.uri)
        try:
            await client.connect()
        except OSError as err:
            raise self.fault("unreachable", f"cannot reach the Wyoming server {self.uri}: {err}",
                             f"start the server, or fix {self._key} (tcp://host:port)") from err
        return client

    def fault(self, what: str, message: str, hint: str) -> RuntimeFault:
        """The fault `<kind>-server-<what>`."""
        return self._fault(f"{self._kind}-server-{what}", message, hint)

    def describe(self) -> list[str]:
        """The names of the installed services of this kind ("asr", "tts") the server offers."""
        return self.run(self._describe())

    async def _describe(self) -> list[str]:
        from wyoming.info import Describe, Info

        client = await self.connect()
        try:
            await client.write_event(Describe().event())
            while (event := await client.read_event()) is not None:
                if Info.is_type(event.type):
                    return [p.name for p in getattr(Info.from_event(event), self._kind) if p.installed]
            return []
        finally:
            await client.disconnect()

    def check(self) -> str:
        """check-config's look at the server: it offers a service of this kind."""
        names = self.describe()
        if not names:
            raise self.fault("invalid", f"the Wyoming server {self.uri} offers no {self._kind.upper()} service",
                             f"point {self._key} at a Wyoming {self._kind.upper()} server")
        return f"the Wyoming {self._kind.upper()} server {self.uri} answers ({', '.join(names)})"
