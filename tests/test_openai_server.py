"""The OpenAI-compatible fixture server itself, through the plain ``openai`` SDK.

If these fail, the agent tests in ``test_openai_agents.py`` fail for the server's sake, not
lkmon's.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import openai
import pytest
import soundfile as sf
from recordings import clip_path

pytestmark = pytest.mark.models


@pytest.fixture
def client(openai_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=openai_server.base_url, api_key="sk-test-not-a-secret")


def test_chat_stream_with_usage(client: openai.OpenAI, openai_server) -> None:
    stream = client.chat.completions.create(
        model="gpt-4.1",
        messages=[
            {"role": "system", "content": "You are a friendly voice assistant."},
            {"role": "user", "content": "Tell me about cats."},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) >= 3
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert not chunks[-1].choices and usage is not None
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens is not None
    log = openai_server.requests()[-1]
    assert (log["path"], log["status"], log["info"]["text"]) == (
        "/v1/chat/completions", 200, text)


def test_chat_scripted_tool_call_then_reply(client: openai.OpenAI) -> None:
    tools = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Look up the weather.",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }]
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    chunks = list(client.chat.completions.create(
        model="gpt-4.1", messages=messages, tools=tools, stream=True,
        stream_options={"include_usage": True}))
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].id and calls[0].function.name == "get_weather"
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    assert len(calls) > 2  # the arguments arrive in pieces
    assert json.loads(arguments) == {"location": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    reply = client.chat.completions.create(model="gpt-4.1", tools=tools, messages=[
        *messages,
        {"role": "assistant", "tool_calls": [{"id": calls[0].id, "type": "function",
                                              "function": {"name": "get_weather",
                                                           "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "Sunny, 21 degrees."},
    ])
    assert "Sunny, 21 degrees" in reply.choices[0].message.content


def test_chat_json_schema(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"voice_instructions": {"type": "string"},
                                               "response": {"type": "string"}},
              "required": ["voice_instructions", "response"], "additionalProperties": False}
    chunks = list(client.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "Hello!"}], stream=True,
        response_format={"type": "json_schema",
                         "json_schema": {"name": "reply", "schema": schema, "strict": True}}))
    data = json.loads("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
    assert set(data) == {"voice_instructions", "response"} and data["response"]


def test_transcription(client: openai.OpenAI) -> None:
    with open(clip_path("goforward"), "rb") as f:
        result = client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=f, response_format="json", language="en")
    assert "forward" in result.text.lower()
    assert result.usage.type == "tokens" and result.usage.input_tokens > 0
    with open(clip_path("something"), "rb") as f:
        verbose = client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json")
    assert "something" in verbose.text.lower() and 2.5 < verbose.duration < 3.5


def test_speech_sse_mp3_and_pcm(client: openai.OpenAI, openai_server) -> None:
    # what openai.TTS() asks by default: gpt-4o-mini-tts, mp3, stream_format "sse"
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="ash", input="Hello there. How are you today?",
        response_format="mp3", extra_body={"stream_format": "sse"},
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert {e["type"] for e in events} == {"speech.audio.delta", "speech.audio.done"}
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["output_tokens"] > 0
    mp3 = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    audio, rate = sf.read(io.BytesIO(mp3), dtype="float32")
    assert rate == 24000 and 1.0 < len(audio) / rate < 5.0
    pcm = client.audio.speech.create(
        model="tts-1", voice="ash", input="Hello there.", response_format="pcm").content
    samples = np.frombuffer(pcm, dtype=np.int16)
    assert 0.4 < len(samples) / 24000 < 3.0 and np.abs(samples).max() > 1000
    assert openai_server.requests()[-1]["info"]["response_format"] == "pcm"
