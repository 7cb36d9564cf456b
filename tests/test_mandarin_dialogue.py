"""Answers on the default model (Qwen2.5-Coder 1.5B): Chinese answered sensibly in Chinese, the
venue's facts used and not invented, safety phrases answered with the fixed response."""

from __future__ import annotations

import functools
import re

import pytest

from runtime import factories
from runtime.actors.think import ThinkActor
from runtime.config import LlamaThink, Persona, SupervisorConfig, load_config, parse_config
from runtime.core.errors import ConfigFault
from runtime.core.messages import Interrupt, ReplyChunk, SafetyEvent, Transcript
from runtime.core.supervisor import ActorSpec
from runtime.dialogue.conversation import Dialogue
from runtime.dialogue.safety import RESPONSES, SafetyCategory, SafetyCheck
from runtime.speech.phonemes import has_cjk
from tests.conftest import REPO
from tests.harness import Running

EXAMPLE = load_config(REPO / "config" / "examples" / "museum-bilingual.toml")
PERSONAS = EXAMPLE.personas
FACTS = PERSONAS["guide"].facts_text()
SETTINGS = EXAMPLE.model_copy(update={"think": LlamaThink(temperature=0.0, max_reply_tokens=80)})
DONT_KNOW = re.compile(r"(don't|do not|not) (know|have|sure)|no information|staff|desk|不知道|不清楚|工作人员|服务台")


@pytest.fixture(scope="module")
def engine():
    return factories.dialogue_factory(SETTINGS)().engine


def ask(engine, question: str) -> str:
    """A new visitor's question, answered by a fresh conversation on the loaded model."""
    return "".join(c.text for c in Dialogue(engine, PERSONAS, "guide", max_reply_tokens=80).reply(question))


@pytest.mark.timeout(600)
def test_chinese_kiosk_questions_get_sensible_chinese_answers_from_the_facts(engine):
    restroom = ask(engine, "洗手间在哪里？")
    assert has_cjk(restroom) and re.search(r"电梯|每", restroom), restroom
    assert "展" not in restroom, f"not an answer about exhibits: {restroom}"
    dinosaurs = ask(engine, "恐龙馆在几楼？")
    assert has_cjk(dinosaurs) and re.search(r"二|2", dinosaurs) and not re.search(r"三|3", dinosaurs), dinosaurs
    subway = ask(engine, "附近有地铁站吗？")
    assert has_cjk(subway) and DONT_KNOW.search(subway), f"invented instead of saying it does not know: {subway}"


@pytest.mark.timeout(600)
def test_english_answers_use_the_facts_and_admit_what_they_do_not_cover(engine):
    hours = ask(engine, "What time do you open?")
    assert "9" in hours and not has_cjk(hours), hours
    wheelchair = ask(engine, "Can I rent a wheelchair here?")
    assert DONT_KNOW.search(wheelchair.lower()), f"invented instead of saying it does not know: {wheelchair}"


def test_the_prompt_carries_the_facts_and_a_persona_without_facts_gets_none(engine):
    with_facts = Dialogue(engine, PERSONAS, "guide").system_prompt()
    assert FACTS in with_facts and "do not know" in with_facts
    bare = Persona(name="Li", system_prompt="You are Li.")
    assert "facts" not in Dialogue(engine, {"li": bare}, "li").system_prompt().lower()


def test_safety_phrases_get_the_fixed_response_never_the_models(engine):
    dialogue = Dialogue(engine, PERSONAS, "guide")
    before = engine.tokens_generated
    for words, category, language in (("我的孩子走丢了！", SafetyCategory.LOST_CHILD, "zh"),
                                      ("救命！有人晕倒了", SafetyCategory.EMERGENCY, "zh"),
                                      ("I can't find my daughter", SafetyCategory.LOST_CHILD, "en"),
                                      ("I feel dizzy", SafetyCategory.UNWELL, "en")):
        chunks = list(dialogue.reply(words))
        assert [c.safety for c in chunks] == [category], words
        assert chunks[0].text == PERSONAS["guide"].safety_response(category, language)
    assert engine.tokens_generated == before, "the model was asked"
    check = SafetyCheck()
    # Positive controls: everyday questions that share words with the phrases are not emergencies.
    for words in ("Where is the emergency exit?", "Where is my son's favourite dinosaur?", "洗手间在哪里？",
                  "这个展览让孩子很开心"):
        assert check(words) is None, words
    assert SafetyCheck(enabled=False)("救命！") is None
    extra = SafetyCheck({SafetyCategory.EMERGENCY: {"en": [r"\bsecurity\b"]}})
    assert extra("call security please") == SafetyCategory.EMERGENCY


@pytest.mark.timeout(600)
def test_think_actor_tells_the_staff_with_a_safety_event(bus):
    actor = functools.partial(ThinkActor, "think", bus, dialogue_factory=factories.dialogue_factory(SETTINGS))
    with Running(bus, [ActorSpec("think", actor)], SupervisorConfig(start_timeout_s=300)) as rec:
        pub = bus.publisher()
        pub.publish(Interrupt(turn=1))
        pub.publish(Transcript(turn=1, text="我找不到我的女儿了", language="zh"))
        assert rec.wait_for(lambda r: any(c.last for c in r.of(ReplyChunk)), 120)
        events = rec.of(SafetyEvent)
        assert len(events) == 1 and events[0].category == "lost_child" and events[0].language == "zh"
        fixed = PERSONAS["guide"].safety_response(SafetyCategory.LOST_CHILD, "zh")
        assert events[0].response == fixed != RESPONSES[SafetyCategory.LOST_CHILD]["zh"], "the persona's own"
        assert "女儿" not in repr(events[0]), "the visitor's words are not sent"
        spoken = [c.text for c in rec.of(ReplyChunk) if c.text]
        assert spoken == [fixed] and rec.of(ReplyChunk)[0].persona == "guide"
        pub.close()


def test_bad_facts_file_and_bad_safety_config_are_refused(tmp_path):
    for text, expected in (
        (f'[personas.x]\nname = "X"\nsystem_prompt = "x"\nfacts_file = "{tmp_path / "none.txt"}"\n', "facts_file"),
        ('[safety.phrases.emergency]\nen = ["(unclosed"]\n', "bad pattern"),
        ('[safety.phrases.fire]\nen = ["x"]\n', "safety.phrases.fire"),
        ('[personas.guide]\nname = "X"\nsystem_prompt = "x"\n[personas.guide.voices]\nfr = "x"\n', "not a language"),
    ):
        with pytest.raises(ConfigFault) as info:
            parse_config(text)
        assert any(expected in e for e in info.value.errors), info.value.errors
    facts = tmp_path / "facts.txt"
    facts.write_text("The shop sells books.", encoding="utf-8")
    persona = parse_config(f'[personas.x]\nname = "X"\nsystem_prompt = "x"\nfacts = "Open 9-5."\n'
                           f'facts_file = "{facts}"\n[think]\npersona = "x"\n', config_dir=tmp_path).personas["x"]
    assert persona.facts_text() == "Open 9-5.\nThe shop sells books."
