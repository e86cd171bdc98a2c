"""The headless per-turn lines, from scripted sessions folded into the model."""

from __future__ import annotations

import io
import re

from lkmon.headless import HeadlessPrinter, turn_line
from lkmon.model.events import ToolCalled
from lkmon.model.state import SessionModel
from tests.synthetic import Script, demo_session


def printed_lines(events: list) -> list[str]:
    out = io.StringIO()
    printer = HeadlessPrinter(SessionModel(), out)
    for event in events:
        printer(event)
    return [line for line in out.getvalue().splitlines() if line.startswith("turn ")]


def test_turn_lines_name_the_tool_calls() -> None:
    lines = printed_lines(demo_session())
    assert len(lines) == 8
    tool_turn = lines[3]  # the demo's turn 4 calls get_time
    assert re.match(r"turn +4 .*user: What time is it\?  e2e latency \S+ s  EOU delay \S+ s  "
                    r"LLM TTFT \S+ s  TTS TTFB \S+ s.*  tools: get_time$", tool_turn)
    assert all("tools:" not in line for i, line in enumerate(lines) if i != 3)


def test_turn_line_marks_failed_tool_calls_in_order() -> None:
    s = Script(background=False).start()
    s.spoken_turn("Weather and time?", "Sunny, and nine.", tool=("get_weather", "{}", "sunny"))
    events = s.close()
    i, first = next((i, e) for i, e in enumerate(events) if isinstance(e, ToolCalled))
    failed = ToolCalled(ts=first.ts + 0.01, call_id="call_2", name="get_time", arguments="{}",
                        output="clock unavailable", is_error=True, speech_id=first.speech_id)
    events.insert(i + 1, failed)
    [line] = printed_lines(events)
    assert line.endswith("  tools: get_weather, get_time (error)"), line
    model = SessionModel()
    model.apply_many(events)
    assert turn_line(model.turns[0]) == line


def test_lines_name_greetings_empty_replies_and_transcript_turns() -> None:
    from lkmon.model.events import SessionStarted, UserTranscribed, VadActivity

    model = SessionModel()
    model.apply_many(demo_session())
    greeting = model.turns[0]
    assert greeting.greeting and "user: (greeting)" in turn_line(greeting)
    greeting.agent_text = " "  # nothing said, no tool call
    assert greeting.empty_reply and " no-text" in turn_line(greeting)

    stt_only = SessionModel()
    stt_only.apply_many([
        SessionStarted(1.0, "t.py", {"vad": "silero/onnx", "stt": "x/y"}, "wav: a.wav", "null"),
        VadActivity(3.3, "start_of_speech", 0.9, True, 0.1, 0.0, 0.001),
        VadActivity(5.3, "end_of_speech", 0.1, False, 2.0, 0.3, 0.001),
        UserTranscribed(5.8, "go forward ten meters", True),
    ])
    line = turn_line(stt_only.turns[0])
    assert line == "turn   1  transcript  user: go forward ten meters  transcription delay 0.800 s"
