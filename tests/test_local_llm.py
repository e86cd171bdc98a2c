"""SmolLLM: real token streaming, counted usage, TTFT, the keyword tool router, short context."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from livekit.agents import APIConnectOptions, function_tool, llm
from livekit.agents.metrics import LLMMetrics

from lkmon.local import LocalModels, load_local_models

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def models() -> LocalModels:
    return load_local_models()  # cached: every test module shares one load


@function_tool
async def get_current_time() -> str:
    """Tell the current local time."""
    return "It is 3:04 PM."


@function_tool
async def set_alarm(time_of_day: str) -> str:
    """Set an alarm (needs an argument, so the keyword router must never pick it)."""
    return "ok"


def chat(*messages: tuple[str, str]) -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    for role, text in messages:
        ctx.add_message(role=role, content=text)  # type: ignore[arg-type]
    return ctx


async def collect(stream: llm.LLMStream) -> list[llm.ChatChunk]:
    async with stream:
        return [chunk async for chunk in stream]


async def test_reply_streams_tokens_with_usage_and_ttft(models: LocalModels) -> None:
    metrics: list[LLMMetrics] = []
    models.llm.on("metrics_collected", metrics.append)
    try:
        ctx = chat(("system", "You are a helpful assistant."), ("user", "Tell me about cats."))
        chunks = await collect(models.llm.chat(chat_ctx=ctx))
        await asyncio.sleep(0)  # the metrics task finishes after the stream closes
    finally:
        models.llm.off("metrics_collected", metrics.append)
    texts = [c.delta.content for c in chunks if c.delta and c.delta.content]
    assert len(texts) > 1, "tokens must arrive one by one, not as one block"
    assert "".join(texts).strip()
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and chunks[-1].usage is usage[0]
    assert usage[0].prompt_tokens > 10
    assert 0 < usage[0].completion_tokens <= 60
    assert usage[0].total_tokens == usage[0].prompt_tokens + usage[0].completion_tokens
    assert 0 <= usage[0].prompt_cached_tokens < usage[0].prompt_tokens
    assert len(metrics) == 1
    m = metrics[0]
    assert 0.0 < m.ttft < m.duration < 10.0
    assert m.completion_tokens == usage[0].completion_tokens
    assert m.prompt_tokens == usage[0].prompt_tokens
    assert m.tokens_per_second > 5
    assert m.metadata.model_provider == "llama.cpp"


async def test_a_repeated_prefix_is_counted_as_cached(models: LocalModels) -> None:
    ctx = chat(("system", "You are a terse assistant."), ("user", "Name a colour."))
    first = (await collect(models.llm.chat(chat_ctx=ctx)))[-1].usage
    second = (await collect(models.llm.chat(chat_ctx=ctx)))[-1].usage
    assert first is not None and second is not None
    assert second.prompt_tokens == first.prompt_tokens
    assert second.prompt_cached_tokens == second.prompt_tokens - 1  # all but the last token


async def test_time_question_with_tools_is_a_real_tool_call(models: LocalModels) -> None:
    ctx = chat(("system", "You are a helpful assistant."), ("user", "What time is it?"))
    chunks = await collect(
        models.llm.chat(chat_ctx=ctx, tools=[set_alarm, get_current_time])
    )
    calls = [tc for c in chunks if c.delta for tc in c.delta.tool_calls]
    assert len(calls) == 1
    assert isinstance(calls[0], llm.FunctionToolCall)
    assert calls[0].name == "get_current_time"
    assert calls[0].arguments == "{}"
    assert calls[0].call_id


async def test_no_tool_call_without_tools_or_keywords(models: LocalModels) -> None:
    ctx = chat(("user", "What time is it?"))
    no_tools = await collect(models.llm.chat(chat_ctx=ctx))
    assert not [tc for c in no_tools if c.delta for tc in c.delta.tool_calls]
    other = chat(("user", "Tell me a joke."))
    chunks = await collect(models.llm.chat(chat_ctx=other, tools=[get_current_time]))
    assert not [tc for c in chunks if c.delta for tc in c.delta.tool_calls]
    forbidden = await collect(
        models.llm.chat(chat_ctx=ctx, tools=[get_current_time], tool_choice="none")
    )
    assert not [tc for c in forbidden if c.delta for tc in c.delta.tool_calls]


async def test_reply_after_the_tool_output_is_generated_from_it(models: LocalModels) -> None:
    ctx = chat(("system", "You are a helpful assistant."), ("user", "What time is it?"))
    ctx.insert(llm.FunctionCall(call_id="call_1", name="get_current_time", arguments="{}"))
    ctx.insert(
        llm.FunctionCallOutput(
            call_id="call_1", name="get_current_time", output="It is 3:04 PM.", is_error=False
        )
    )
    chunks = await collect(models.llm.chat(chat_ctx=ctx, tools=[get_current_time]))
    assert not [tc for c in chunks if c.delta for tc in c.delta.tool_calls]
    text = "".join(c.delta.content for c in chunks if c.delta and c.delta.content)
    assert "3:04" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_reply_stops_after_two_sentences(models: LocalModels) -> None:
    ctx = chat(("user", "Write a long story about a dragon."))
    reply = await models.llm.chat(chat_ctx=ctx).collect()
    ends = re.findall(r"[.!?](?:\s|$)", reply.text)
    assert len(ends) == 2, reply.text
    assert reply.text.endswith((".", "!", "?"))
    assert reply.usage is not None and reply.usage.completion_tokens < 60


def test_context_is_short(models: LocalModels) -> None:
    ctx = chat(
        ("system", "Be   brief.\nVery brief."),
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
    )
    messages = models.llm.messages_for(ctx)
    assert messages == [
        {"role": "system", "content": "Be brief. Very brief."},
        {"role": "user", "content": "second question"},
    ]


async def test_generation_runs_off_the_event_loop(models: LocalModels) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    ctx = chat(("user", "Write a long story about a dragon."))
    await collect(models.llm.chat(chat_ctx=ctx, conn_options=APIConnectOptions(timeout=10)))
    took = time.perf_counter() - start
    stop.set()
    await task
    assert ticks > took / 0.005 / 4, f"{ticks} ticks in {took:.2f} s: the loop was blocked"
