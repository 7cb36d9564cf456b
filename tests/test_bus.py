"""The wire codec and the forwarder, over real inproc, ipc and tcp sockets."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest
import zmq

from runtime.core.bus import Bus, decode, encode
from runtime.core.errors import BusFault
from runtime.core.messages import (
    REGISTRY,
    ActorState,
    ActorStatus,
    AudioFrame,
    Interrupt,
    InterruptReason,
    Message,
    VisitorChange,
    payload_fields,
)
from tests.conftest import recv_within, wait_for


def sample(cls: type[Message]) -> Message:
    """An instance of a message type with a distinctive value in every field."""
    hints = typing.get_type_hints(cls)
    values = {}
    for i, f in enumerate(dataclasses.fields(cls)):
        if f.name in payload_fields(cls):
            values[f.name] = (np.arange(480, dtype=np.int16) * (i + 1)) if hints[f.name] is np.ndarray \
                else bytes(range(7))
        elif f.name == "t_ns":
            continue
        elif typing.get_origin(hints[f.name]) is tuple:
            values[f.name] = ("sil", "PP", f"x{i}")
        else:
            kind = hints[f.name]
            values[f.name] = {int: 40 + i, float: 0.5 + i, bool: True, str: f"text {i} 你好",
                              ActorState: ActorState.FAILED, InterruptReason: InterruptReason.BARGE_IN,
                              VisitorChange: VisitorChange.LEFT}[kind]
    return cls(**values)


def assert_same(a: Message, b: Message) -> None:
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        left, right = getattr(a, f.name), getattr(b, f.name)
        if isinstance(left, np.ndarray):
            assert right.dtype == left.dtype and right.shape == left.shape
            np.testing.assert_array_equal(left, right)
        else:
            assert left == right and type(left) is type(right), f.name


def endpoints(kind: str, tmp_path) -> tuple[str, str]:
    if kind == "inproc":
        return f"inproc://codec-{id(tmp_path)}-pub", f"inproc://codec-{id(tmp_path)}-sub"
    if kind == "ipc":
        return f"ipc://{tmp_path}/pub.sock", f"ipc://{tmp_path}/sub.sock"
    return "tcp://127.0.0.1:*", "tcp://127.0.0.1:*"


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
def test_every_message_type_round_trips(transport, tmp_path, ctx):
    bus = Bus(*endpoints(transport, tmp_path), context=ctx)
    bus.start()
    sub = bus.subscriber(REGISTRY.values())
    pub = bus.publisher()
    try:
        sent = [sample(cls) for cls in REGISTRY.values()]
        # The first messages may beat the subscription; resend until the path is up.
        assert wait_for(lambda: pub.publish(sent[0]) or sub.poll(50), timeout_s=5)
        while sub.poll(100):
            sub.recv_multipart()
        for msg in sent:
            pub.publish(msg)
        for msg in sent:
            assert_same(msg, recv_within(sub))
    finally:
        pub.close()
        sub.close()
        bus.stop()


def test_numpy_payload_is_not_in_the_header_and_arrives_read_only():
    pcm = np.linspace(-1000, 1000, 16000).astype(np.int16)
    frames = encode(AudioFrame(pcm=pcm, sample_rate=16000, offset_samples=320))
    assert len(frames) == 3
    assert len(frames[1]) < 200, "PCM leaked into the header"
    assert bytes(frames[2]) == pcm.tobytes()
    out = decode([bytes(f) for f in frames])
    np.testing.assert_array_equal(out.pcm, pcm)
    assert not out.pcm.flags.writeable


def test_two_dimensional_float_payload_keeps_shape_and_dtype():
    pixels = np.random.default_rng(1).random((4, 6, 3)).astype(np.float32)
    out = decode([bytes(f) for f in encode(AudioFrame(pcm=pixels))])
    assert out.pcm.shape == (4, 6, 3) and out.pcm.dtype == np.float32
    np.testing.assert_array_equal(out.pcm, pixels)


def test_no_topic_is_a_prefix_of_another():
    topics = list(REGISTRY)
    for a in topics:
        for b in topics:
            assert a == b or not b.startswith(a), f"{a!r} would also receive {b!r}"


@pytest.mark.parametrize("frames, code", [
    ([b"nope.topic", b"\x80"], "bus-unknown-topic"),
    ([b"audio.in"], "bus-bad-message"),
    ([b"audio.in", b"\xc1garbage"], "bus-bad-message"),
    ([b"hear.transcript", encode(sample(REGISTRY["hear.transcript"]))[1], b"extra"], "bus-bad-message"),
])
def test_malformed_frames_raise_bus_fault(frames, code):
    with pytest.raises(BusFault) as info:
        decode(frames)
    assert info.value.code == code


def test_enums_come_back_as_enums_and_an_unknown_value_is_a_bad_message():
    interrupt = decode(encode(Interrupt(turn=3, reason=InterruptReason.SPECULATION, resumes=2)))
    assert type(interrupt.reason) is InterruptReason and interrupt.reason is InterruptReason.SPECULATION
    status = decode(encode(ActorStatus(actor="think", state=ActorState.READY)))
    assert type(status.state) is ActorState
    with pytest.raises(BusFault) as info:
        decode(encode(Interrupt(turn=3, reason="mystery")))
    assert info.value.code == "bus-bad-message"


def test_binding_a_taken_endpoint_is_a_clear_fault(ctx, tmp_path):
    first = Bus(f"ipc://{tmp_path}/a", f"ipc://{tmp_path}/b", context=ctx)
    first.start()
    blocker = ctx.socket(zmq.PUB)
    blocker.bind("tcp://127.0.0.1:*")
    taken = blocker.last_endpoint.decode()
    try:
        second = Bus(taken, f"ipc://{tmp_path}/c", context=ctx)
        with pytest.raises(BusFault) as info:
            second.start()
        assert info.value.code == "bus-bind-failed"
        assert taken in info.value.message
    finally:
        blocker.close()
        first.stop()
