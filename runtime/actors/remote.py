"""remote actor: the device's fleet link over MQTT v5 (see runtime.control.mqtt and README,
"Operations: fleet").

paho keeps the connection in its own thread and hands what arrives to this actor's loop through
a bounded inbox (Actor.inbox), so the conversation never waits on the network: a broker that is down, restarts
or is gone for an hour only delays the operators. Commands run here, one at a time, through the
same command layer as the REST API (runtime.control.commands); the reply goes to the request's
ResponseTopic with its CorrelationData. The actor also folds the bus into the device state
(retained on P/state when it changes and every state_interval_s) and streams P/events.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from runtime import __version__
from runtime.actors.control import ControlActor
from runtime.control import homeassistant
from runtime.control.mqtt import (
    Arrival,
    Arrived,
    Connected,
    Link,
    ReplyCache,
    Request,
    Topics,
    parse_body,
    reply_body,
    to_json,
)
from runtime.control.state import StatePush
from runtime.control.trial import rolled_back_event
from runtime.core.errors import ControlFault, RuntimeFault
from runtime.core.messages import ConfigApplied, Message

_LOGGER = logging.getLogger(__name__)

_INBOX_MAX = 64
"""Requests waiting to run; more are answered command-busy at once."""


class RemoteActor(ControlActor):
    """Fleet control over MQTT: status with a will, retained state, commands with replies, events."""

    tick_interval_s = 0.25

    def setup(self) -> None:
        """Open the link; it connects (and reconnects) in the background."""
        cfg = self.device.settings.remote
        self.topics = Topics(cfg.topic_prefix, self.device.id)
        self.cache = ReplyCache()
        self._inbox = self.inbox(self._take, _INBOX_MAX)
        self._ha_status = f"{cfg.discovery_prefix}/status"
        self._push = StatePush()
        self._personas: list[str] = []
        self.link = Link(cfg, self.topics, self._arrived,
                         extra_subscriptions=(self._ha_status,) if cfg.homeassistant else ())
        if self.device.trial is not None:
            self.device.trial.link_problem = lambda: self.link.problem
        self.link.start()

    def teardown(self) -> None:
        """Publish the offline status (a clean stop) and disconnect."""
        if getattr(self, "link", None) is not None:
            self.link.stop()

    @property
    def share(self) -> bool:
        """[remote] share_transcripts, as in force now."""
        return self.device.settings.remote.share_transcripts

    # --- the bus ----------------------------------------------------------------------------

    def observed(self, msg: Message, events: list[dict[str, Any]]) -> None:
        """Stream the events; a change of health or settings refreshes the state."""
        for event in events:
            self.link.publish(self.topics.events, {**event, "device": self.device.id, "at": round(time.time(), 3)},
                              qos=0)
        self._push.note(msg, events)
        if isinstance(msg, ConfigApplied):
            self._discover()

    def tick(self) -> None:
        """Publish the state when it changed (at most every second) and every state_interval_s."""
        if self.link.connected.is_set() and self._push.due(self.device.settings.remote.state_interval_s):
            self._send_state()

    def _send_state(self) -> None:
        self._push.sent()
        self.link.publish(self.topics.state, self.state(), retain=True)

    # --- paho's thread ----------------------------------------------------------------------

    def _arrived(self, item: Arrival) -> None:
        if not self._inbox.put(item) and isinstance(item, Request):
            fault = ControlFault("command-busy", "too many requests are waiting", "retry in a few seconds")
            self.link.reply(item, to_json(reply_body(self.device.id, fault=fault)))

    # --- the actor's thread -----------------------------------------------------------------

    def _take(self, item: Arrival) -> None:
        if isinstance(item, Connected):
            self.link.publish(self.topics.status, {"online": True, "version": __version__, "since": item.since},
                              retain=True)
            self._send_state()
            self._discover(force=True)
            self._linked()
        elif isinstance(item, Request):
            self._serve(item)
        elif isinstance(item, Arrived) and item.topic == self._ha_status and item.payload.strip() == b"online":
            self._discover(force=True)

    def _linked(self) -> None:
        """Connected: the document on trial may be confirmed; a roll-back is told once per process."""
        device = self.device
        if device.trial is not None:
            device.trial.link_up()
        if device.applied.rolled_back and not device.rollback_told:
            device.rollback_told = True
            self.link.publish(self.topics.events, {**rolled_back_event(device.applied), "device": device.id,
                                                   "at": round(time.time(), 3)})

    def _serve(self, request: Request) -> None:
        """Run one command and reply; a repeat within a minute gets the first reply again."""
        _LOGGER.debug("command %s: %d bytes, waited %.3f s", request.name, len(request.payload),
                      time.monotonic() - request.received)
        cached = self.cache.get(request.key)
        if cached is not None:
            _LOGGER.info("command %s: repeated request, answered from the cache", request.name)
            self.link.reply(request, cached)
            return
        try:
            if request.expired:
                raise ControlFault("command-expired", "the request expired before it could run",
                                   "send it again, with a longer MessageExpiryInterval")
            self.commands.request_model(request.name)  # an unknown command says so, whatever its body
            result = self.run(request.name, parse_body(request.payload))
            body = reply_body(self.device.id, result)
            outcome = "ok"
        except RuntimeFault as fault:
            body, outcome = reply_body(self.device.id, fault=fault), fault.code
        except Exception as err:  # a bug must not cost the operator the reply, nor the link
            _LOGGER.exception("command %s failed", request.name)
            fault = ControlFault("command-failed", f"{type(err).__name__}: {err}", "see the device's log")
            body, outcome = reply_body(self.device.id, fault=fault), fault.code
        payload = to_json(body)
        self.cache.put(request.key, payload)
        info = self.link.reply(request, payload)
        _LOGGER.info("command %s%s: %s", request.name, " (fleet)" if request.fleet else "", outcome)
        if outcome == "ok":
            self._push.dirty = True
        if self.device.restart_pending:
            if info is not None:
                try:
                    info.wait_for_publish(2.0)
                except (RuntimeError, ValueError) as err:
                    _LOGGER.warning("reply before restart not delivered: %s", err)
            self.device.restart_if_pending()

    def _discover(self, force: bool = False) -> None:
        """Publish Home Assistant discovery (again when HA restarts or the personas change)."""
        cfg = self.device.settings.remote
        personas = sorted(self.device.settings.personas)
        if not cfg.homeassistant or (not force and personas == self._personas):
            return
        self._personas = personas
        for topic, payload in homeassistant.discovery(self.topics, cfg.discovery_prefix, personas):
            self.link.publish(topic, payload, retain=True)
