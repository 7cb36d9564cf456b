"""The turn ledger: one set of rules for where each turn's answer stands, driven here by the
bus messages themselves (fast: no actors, no models)."""

from __future__ import annotations

import numpy as np

from runtime.core.ledger import TURNS_KEPT, TurnLedger
from runtime.core.messages import (
    Interrupt,
    InterruptReason,
    PlaybackFinished,
    PlaybackStarted,
    SpeechAudio,
    SpeechStarted,
    Transcript,
)


def audio(turn: int, index: int, *, last: bool = False, samples: int = 100) -> SpeechAudio:
    n = 0 if last else samples
    return SpeechAudio(turn=turn, index=index, pcm=np.zeros(n, np.int16), spans=np.zeros((0, 2), np.int32),
                       targets=np.zeros((0, 5), np.float32), last=last)


def play(ledger: TurnLedger, turn: int, index: int) -> None:
    ledger.note(PlaybackStarted(turn=turn, index=index, heard_ns=1))
    ledger.note(PlaybackFinished(turn=turn, index=index, heard_ns=2))


def test_an_answer_prepared_ahead_is_held_until_its_final_and_void_when_the_visitor_goes_on():
    ledger = TurnLedger()
    ledger.note(SpeechStarted(turn=1, start_s=0.0))
    ledger.note(Transcript(turn=1, text="Where is the", final=False, speculative=True))
    assert 1 in ledger.held and 1 in ledger.hearing
    # The visitor breathed and went on: turn 2 takes in turn 1's words; 1's answer is void.
    ledger.interrupt(Interrupt(turn=2, reason=InterruptReason.SPECULATION, resumes=1))
    assert 1 not in ledger.held and 1 in ledger.void and ledger.hearing == {2} and ledger.in_flight
    ledger.note(Transcript(turn=2, text="Where is the cafe", final=False, speculative=True))
    assert ledger.held == {2}
    ledger.note(Transcript(turn=2, text="Where is the cafe"))  # the final commits it
    assert not ledger.held and not ledger.hearing and ledger.answering == {2}


def test_an_answer_is_said_once_it_was_all_synthesized_and_every_piece_played():
    ledger = TurnLedger()
    ledger.note(Transcript(turn=3, text="Hello", final=False, speculative=True))
    ledger.note(audio(3, 0))
    ledger.note(audio(3, 1))
    ledger.note(audio(3, 2, last=True))  # all synthesized before the final came
    ledger.note(Transcript(turn=3, text="Hello"))
    assert not ledger.said(3) and ledger.in_flight
    play(ledger, 3, 0)
    assert not ledger.said(3), "said with a piece still to play"
    play(ledger, 3, 1)
    assert ledger.said(3) and not ledger.in_flight


def test_a_newer_turn_ends_every_older_one_and_an_empty_piece_never_waits():
    ledger = TurnLedger()
    ledger.note(Transcript(turn=4, text="Tell me a story"))
    ledger.note(audio(4, 0))
    ledger.note(audio(4, 1, samples=0))  # nothing to play: no playback will ever finish it
    ledger.note(PlaybackStarted(turn=4, index=0, heard_ns=1))
    ledger.interrupt(Interrupt(turn=5, reason=InterruptReason.BARGE_IN))
    assert not ledger.in_flight, "an interrupted answer is still in flight"
    ledger.note(audio(4, 2))  # a late piece of the old answer
    assert not ledger.pending
    ledger.note(Transcript(turn=5, text="Stop"))
    ledger.note(audio(5, 0))
    ledger.note(audio(5, 1, samples=0))
    ledger.note(audio(5, 2, last=True))
    play(ledger, 5, 0)
    assert ledger.said(5)


def test_turns_whose_end_never_came_do_not_pile_up_for_months():
    ledger = TurnLedger()
    for turn in range(1, 1001):  # heard, answered ahead, half-played: and nothing more of each came
        ledger.note(SpeechStarted(turn=turn, start_s=0.0))
        ledger.note(Transcript(turn=turn, text="words", final=False, speculative=True))
        ledger.note(audio(turn, 0))
        ledger.note(audio(turn, 1, last=True))
    assert max(len(ledger.hearing), len(ledger.held), len(ledger.answering), len(ledger.synthesized)) <= TURNS_KEPT
    assert len({p[0] for p in ledger.pending}) <= TURNS_KEPT
    assert 1000 in ledger.held and 1 not in ledger.held


def test_the_caption_prints_an_answer_prepared_ahead_only_once_its_final_commits_it(bus):
    """The visitor paused ("Where is the"), an answer was written for those words, then they went
    on: the subtitles show the question and the answer to the whole, never the void answer, even
    when the Interrupt is read before the void answer's chunk (actors read control first)."""
    import io

    from runtime.actors.caption import CaptionActor
    from runtime.core.messages import ReplyChunk
    from runtime.core.supervisor import ActorSpec
    from tests.harness import Running

    stream = io.StringIO()
    spec = ActorSpec("caption", lambda: CaptionActor("caption", bus, stream=stream))
    with Running(bus, [spec]) as rec:
        pub = bus.publisher()
        try:
            pub.publish(Transcript(turn=0, text="Hello"))  # (once it is printed, the publisher is connected)
            assert rec.wait_for(lambda r: "visitor> Hello" in stream.getvalue(), 10)
            pub.publish(Transcript(turn=1, text="Where is the", final=False, speculative=True))
            pub.publish(ReplyChunk(turn=1, text="The what?"))
            pub.publish(Interrupt(turn=2, reason=InterruptReason.SPECULATION, resumes=1))
            pub.publish(Transcript(turn=2, text="Where is the cafe", final=False, speculative=True))
            pub.publish(ReplyChunk(turn=2, text="On the first floor."))
            assert not rec.wait_for(lambda r: "avatar>" in stream.getvalue(), 1.0), stream.getvalue()
            pub.publish(Transcript(turn=2, text="Where is the cafe"))
            assert rec.wait_for(lambda r: "avatar>" in stream.getvalue(), 10)
        finally:
            pub.close()
    assert stream.getvalue() == "visitor> Hello\nvisitor> Where is the cafe\navatar> On the first floor.\n"
