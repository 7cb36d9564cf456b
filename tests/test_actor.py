"""Actor lifecycle and supervision with real threads and sockets."""

from __future__ import annotations

import threading
import time

import pytest

from runtime.config import SupervisorConfig
from runtime.core.actor import Actor
from runtime.core.errors import SupervisorFault
from runtime.core.messages import Interrupt, ReplyChunk, Transcript
from runtime.core.supervisor import ActorSpec, Supervisor
from tests.conftest import recv_within, wait_for

FAST = SupervisorConfig(restart_backoff_s=0.01, restart_backoff_max_s=0.05, storm_max_restarts=3,
                        storm_window_s=30, stop_timeout_s=1.5)


class Upper(Actor):
    """Answers a transcript with its upper-case text; raises on the word `boom`."""

    subscriptions = (Transcript,)

    def handle(self, msg):
        if msg.text == "boom":
            raise RuntimeError("boom")
        self.publish(ReplyChunk(turn=msg.turn, text=msg.text.upper()))


class Held(Actor):
    """Records what it handled; its first message holds it until `release` is set (a long step of
    work, however fast the machine)."""

    subscriptions = (Transcript,)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.handled: list[int] = []
        self.interrupts: list[int] = []
        self.busy, self.release = threading.Event(), threading.Event()

    def handle(self, msg):
        if not self.handled:
            self.busy.set()
            assert self.release.wait(30), "never released"
        self.handled.append(msg.turn)

    def on_interrupt(self, msg):
        self.interrupts.append(msg.turn)


def ask(bus, pub, sub, text: str, turn: int = 0, timeout_s: float = 5.0) -> ReplyChunk:
    """Publish a transcript until an answer comes back (the actor may be restarting)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pub.publish(Transcript(turn=turn, text=text))
        if sub.poll(100):
            return recv_within(sub)
    raise AssertionError(f"no answer to {text!r}")


@pytest.fixture
def client(bus):
    pub, sub = bus.publisher(), bus.subscriber([ReplyChunk])
    yield pub, sub
    pub.close()
    sub.close()


def test_failed_actor_is_restarted_and_keeps_serving(bus, client):
    pub, sub = client
    sup = Supervisor(bus, [ActorSpec("upper", lambda: Upper("upper", bus))], FAST)
    sup.start()
    stop = threading.Event()
    runner = threading.Thread(target=sup.run, args=(stop,))
    runner.start()
    try:
        assert ask(bus, pub, sub, "hello").text == "HELLO"
        first = sup.actors[0]
        pub.publish(Transcript(text="boom"))
        assert wait_for(lambda: sup.actors[0] is not first and sup.actors[0].ready.is_set())
        assert ask(bus, pub, sub, "again").text == "AGAIN"
    finally:
        stop.set()
        runner.join(5)
        assert sup.stop()


def test_restart_storm_ends_supervision_with_a_fault(bus, client):
    pub, _ = client
    sup = Supervisor(bus, [ActorSpec("upper", lambda: Upper("upper", bus))], FAST)
    sup.start()
    result = {}

    def supervise():
        try:
            sup.run(threading.Event())
        except SupervisorFault as fault:
            result["fault"] = fault

    runner = threading.Thread(target=supervise)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while runner.is_alive() and time.monotonic() < deadline:
            pub.publish(Transcript(text="boom"))
            time.sleep(0.02)
        runner.join(1)
        assert result["fault"].code == "supervisor-restart-storm"
        assert result["fault"].exit_code != 0
    finally:
        sup.stop()


def test_interrupt_overtakes_queued_data_and_stale_data_is_dropped(bus):
    pub, seen = bus.publisher(), bus.subscriber([Transcript])
    actor = Held("held", bus)
    sup = Supervisor(bus, [ActorSpec("held", lambda: actor)], FAST)
    sup.start()
    try:
        pub.publish(Transcript(turn=0, text="old"))
        assert actor.busy.wait(10), "the first message never reached the actor"
        for _ in range(99):
            pub.publish(Transcript(turn=0, text="old"))
        pub.publish(Interrupt(turn=1))
        pub.publish(Transcript(turn=1, text="new"))
        # Once the bus has passed on the last message, the interrupt (published before it) is
        # queued at the actor too: all of it waits while the actor is busy.
        while recv_within(seen, 10).text != "new":
            pass
        actor.release.set()
        assert wait_for(lambda: 1 in actor.handled, timeout_s=5)
        # The interrupt overtook the 99 queued old messages, which were dropped unhandled.
        assert actor.interrupts == [1]
        assert actor.handled == [0, 1], actor.handled
    finally:
        actor.release.set()
        pub.close()
        seen.close()
        sup.stop()


def test_shutdown_leaves_no_threads_and_no_sockets(ctx, bus):
    before = {t.name for t in threading.enumerate()}
    specs = [ActorSpec(f"a{i}", lambda i=i: Upper(f"a{i}", bus)) for i in range(4)]
    sup = Supervisor(bus, specs, FAST)
    sup.start()
    assert sup.stop(), "an actor thread outlived the stop budget"
    leftover = {t.name for t in threading.enumerate()} - before
    assert not leftover, leftover
    # The ctx fixture then terminates the context, which fails if any socket is still open.


def test_actor_failing_in_setup_stops_start_with_its_reason(bus):
    class Broken(Actor):
        def setup(self):
            raise OSError("device gone")

    sup = Supervisor(bus, [ActorSpec("broken", lambda: Broken("broken", bus))], FAST)
    with pytest.raises(SupervisorFault) as info:
        sup.start()
    assert info.value.code == "actor-start-failed"
    assert "device gone" in info.value.message
    sup.stop()


class Ticker(Actor):
    """Ticks a hundred times a second (as the file source does) and does nothing else; notes the
    CPU time of its own thread."""

    tick_interval_s = 0.01

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ticks, self.clock = 0, None

    def tick(self):
        if self.clock is None:
            self.clock = time.pthread_getcpuclockid(threading.get_ident())
        self.ticks += 1


def test_an_actor_waiting_for_its_next_tick_sleeps_instead_of_spinning(bus):
    """Between ticks the actor's thread sleeps: over 2 s of ticking at 100 Hz it uses under 3 % of
    a core (waiting in poll(0) for the last fraction of each millisecond before a tick used
    5-10 %: on a 2-core kiosk that is CPU taken from the LLM's decoding)."""
    actor = Ticker("ticker", bus)
    actor.start()
    try:
        assert wait_for(lambda: actor.clock is not None, 10), "the actor never ticked"
        used0, ticks0, t0 = time.clock_gettime(actor.clock), actor.ticks, time.monotonic()
        time.sleep(2.0)
        used, ticks, span = time.clock_gettime(actor.clock) - used0, actor.ticks - ticks0, time.monotonic() - t0
    finally:
        actor.stop(5)
    assert ticks >= 20, f"only {ticks} ticks in {span:.1f} s"
    assert used / span < 0.03, f"{100 * used / span:.1f} % of a core spent waiting for {ticks} ticks"


def test_an_actors_thread_and_the_threads_it_starts_carry_its_name_for_top(bus):
    """An operator looking at a busy kiosk with `top -H` or `ps -L` sees which actor uses the CPU
    ("et-ticker"), and a model's thread pool started from an actor shows under that actor's name."""
    actor = Ticker("ticker", bus)
    actor.start()
    try:
        assert wait_for(lambda: actor.clock is not None, 10), "the actor never ticked"
        names = {}

        def started_by_the_actor():
            names["child"] = open(f"/proc/self/task/{threading.get_native_id()}/comm").read().strip()

        child = threading.Thread(target=started_by_the_actor)
        actor.tick = lambda: child.ident is None and child.start()  # once, from the actor's thread
        assert wait_for(lambda: "child" in names, 10)
        names["actor"] = open(f"/proc/self/task/{actor._thread.native_id}/comm").read().strip()
    finally:
        actor.stop(5)
    assert names == {"actor": "et-ticker", "child": "et-ticker"}
