"""The bus side shared by the remote (MQTT) and api (HTTP) actors: both fold the same bus
messages into the same device state and run commands through the same command layer, so the
fleet and the console never disagree."""

from __future__ import annotations

from typing import Any

from runtime.control.commands import Commands, Device
from runtime.control.state import SUBSCRIPTIONS, Observer
from runtime.core.actor import Actor
from runtime.core.messages import Interrupt, Message


class ControlActor(Actor):
    """Observes the bus and runs operators' commands; subclasses add their transport."""

    subscriptions = SUBSCRIPTIONS
    controls = (Interrupt,)
    drop_stale = False  # health and metrics of every turn count, not only the newest

    def __init__(self, name: str, bus, *, device: Device, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.device = device
        self.observer = Observer(min_silence_s=device.settings.listen.min_silence_s, heartbeat_s=self.heartbeat_s)
        self.commands = Commands(device, self.observer, self.publish, open_turn=bus.turns.next,
                                 keep_alive=self.check_control)
        self.said: dict[str, str] = {}
        """The last words of the visitor and of the avatar (kept only when `share` allows)."""

    @property
    def share(self) -> bool:
        """Whether what is said may leave the device through this actor (privacy: off)."""
        return False

    def handle(self, msg: Message) -> None:
        """Fold one bus message into the device state; hand its events to the transport."""
        events = self.observer.feed(msg, captions=self.share)
        for event in events:
            if event["type"] == "caption":
                self.said[event["who"]] = event["text"]
        self.observed(msg, events)

    def observed(self, msg: Message, events: list[dict[str, Any]]) -> None:
        """Publish what a bus message changed (the transport's part)."""

    def state(self) -> dict[str, Any]:
        """The device state, with the last words only when sharing is on."""
        state = {**self.commands.state(), "captions": self.share}
        if self.share and self.said:
            state["said"] = dict(self.said)
        return state

    def run(self, name: str, body: Any) -> Any:
        """Run a command by name with a JSON body through the shared command layer."""
        return self.commands.run(name, body)
