"""Thinking benchmark: time to first token and first speakable chunk, tokens/s, prefix reuse.

Each question is asked of a fresh conversation (a new visitor) after a ~200-token persona prompt;
greetings are off so the numbers are the model's. A short-prompt persona is measured the same way:
with prefix reuse the two first-token times are about equal. Then, with llama.cpp, a few questions
beside two busy processes: with the thread count fixed, and chosen by the cost of tokens
(runtime/engines/llm_threads.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from runtime import factories
from runtime.bench.stats import median, percentiles
from runtime.config import Persona, Settings
from runtime.dialogue.conversation import Dialogue

QUESTIONS = [
    "Where is the nearest restroom?", "What time do you close today?", "Can I take photos inside?",
    "Is there a cafe in the building?", "How much is a ticket for a child?", "Where can I leave my coat?",
    "Do you have a map of the museum?", "Which exhibition is the most popular?",
    "请问洗手间在哪里？", "今天几点关门？", "可以拍照吗？", "儿童票多少钱？",
]
_LONG = ("You are Mia, the guide of the City Museum of Science and Art. The museum has four floors: "
         "the ground floor has the ticket desk, the cloakroom, the shop and the cafe; the first floor "
         "shows the history of the city; the second floor has the science hall with the planetarium; the "
         "top floor has the art gallery and a roof terrace. Opening hours are nine to six, Tuesday to "
         "Sunday; on Mondays the museum is closed. Adult tickets cost twelve euros, children under twelve "
         "pay five, and families of four pay thirty. Photos without flash are allowed everywhere except in "
         "the art gallery. Wheelchairs and prams can use the lifts next to the cloakroom. Guided tours "
         "start every hour at the ticket desk. Be helpful, warm and precise.")


BUSY_QUESTIONS = QUESTIONS[:3]
"""Asked beside two busy processes (each answer is slow there)."""


def _measure(dialogue: Dialogue, persona: str, questions: list[str] = QUESTIONS) -> dict:
    engine = dialogue.engine
    dialogue.set_persona(persona)
    first_tokens, first_chunks, rates = [], [], []
    for question in questions:
        dialogue.memory.turns.clear()
        started, tokens_before = time.perf_counter(), engine.tokens_generated
        chunks = list(dialogue.reply(question))
        elapsed_ms = (time.perf_counter() - started) * 1000
        first = engine.last_first_token_ms
        if first is not None:
            first_tokens.append(first)
            rates.append((engine.tokens_generated - tokens_before) / max(1e-6, (elapsed_ms - first) / 1000))
        if chunks:
            first_chunks.append(chunks[0].t_ms)
    return {"first_token_ms": percentiles(first_tokens), "first_chunk_ms": percentiles(first_chunks),
            "tokens_per_s": median(rates)}


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the benchmark, print it, return (and optionally write) the numbers."""
    settings = settings or Settings()
    personas = {"long": Persona(name="Mia", system_prompt=_LONG), "short": Persona(name="Mia",
                system_prompt="You are Mia, a museum guide.")}
    settings = settings.model_copy(update={"personas": personas,
                                           "think": settings.think.model_copy(update={"persona": "long"})})
    dialogue = factories.dialogue_factory(settings)()
    started = time.perf_counter()
    dialogue.warm()
    report = {"model": getattr(settings.think, "model", settings.think.type),
              "persona_prompt_tokens": dialogue.engine.count(dialogue.system_prompt(personas["long"])),
              "warm_s": round(time.perf_counter() - started, 2),
              "long_persona": _measure(dialogue, "long"), "short_persona": _measure(dialogue, "short")}
    governor = getattr(dialogue.engine, "threads", None)
    if governor is not None and governor.most > 1:  # llama.cpp: fixed threads vs the governor on a busy CPU
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
        try:
            governor.hold(governor.most)
            report["busy_fixed_threads"] = _measure(dialogue, "long", BUSY_QUESTIONS)
            governor.hold(None)
            report["busy_governed_threads"] = _measure(dialogue, "long", BUSY_QUESTIONS)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    long, short = report["long_persona"], report["short_persona"]
    print(f"think benchmark — model {report['model']}, persona prompt {report['persona_prompt_tokens']} tokens "
          f"(evaluated once at start-up: {report['warm_s']} s)")
    rows = [("200-token persona", long), ("short persona", short),
            ("busy CPU, 2 threads", report.get("busy_fixed_threads")),
            ("busy CPU, governed", report.get("busy_governed_threads"))]
    for label, row in [r for r in rows if r[1]]:
        print(f"  {label:19}: first token p50 {row['first_token_ms']['p50']} / p95 {row['first_token_ms']['p95']} ms,"
              f" first chunk p50 {row['first_chunk_ms']['p50']} / p95 {row['first_chunk_ms']['p95']} ms,"
              f" {row['tokens_per_s']} tokens/s")
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "think.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report
