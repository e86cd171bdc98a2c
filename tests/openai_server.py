"""An OpenAI-compatible HTTP server on 127.0.0.1 backed by lkmon's offline models.

It serves what ``livekit-plugins-openai`` 1.8.9 calls, so that agents written with the real
``openai.STT()``, ``openai.LLM()`` and ``openai.TTS()`` run fully offline over real HTTP:

* ``POST /v1/chat/completions``: SmolLM2-135M (llama.cpp), streamed token by token as SSE
  chunks shaped as OpenAI's (``chat.completion.chunk``), with the final usage chunk of
  ``stream_options.include_usage``. Tool calls are scripted (SmolLM2 cannot choose tools): when
  the request offers ``tools`` and the last message is the user's, a tool is called when every
  word of its name but ``get``/``set``/... occurs in the user's words (``get_weather`` on
  "weather", ``go_forward`` on "go forward ten meters"); its arguments are built from the
  tool's JSON schema and the user's words. After a tool result, the reply is a scripted
  sentence holding the tool's output. ``response_format`` ``json_schema``: a JSON object with
  the schema's properties, the last string property holding the model's reply, streamed.
  Non-streaming requests get a ``chat.completion``.
* ``POST /v1/audio/transcriptions`` (multipart): Whisper tiny.en (faster-whisper); ``json``,
  ``verbose_json``, ``text``, ``srt``, ``vtt``; ``usage`` as OpenAI reports it (tokens for
  ``gpt-4o*-transcribe``, duration for ``whisper-1``).
* ``GET /v1/realtime?intent=transcription`` (websocket): the realtime transcription session of
  ``openai.STT(use_realtime=True)``: ``session.update``, ``input_audio_buffer.append`` /
  ``commit`` / ``clear`` in; ``session.created`` / ``updated``,
  ``input_audio_buffer.speech_started`` / ``speech_stopped`` / ``committed``,
  ``conversation.item.input_audio_transcription.delta`` / ``completed`` out. Server-side "VAD":
  an energy threshold on the PCM received, a segment ends after the session's
  ``silence_duration_ms`` of quiet (default 350 ms, the plugin's), ``prefix_padding_ms`` of
  audio before the onset is kept; each segment is transcribed with Whisper.
* ``POST /v1/audio/speech``: Piper (en_US-joe-medium, 22050 Hz) resampled to 24 kHz with soxr;
  ``response_format`` mp3 (the plugin's default; libmp3lame through PyAV) and pcm (24 kHz
  16-bit mono) stream sentence by sentence; wav, flac, opus (Ogg) and aac are encoded whole.
  ``stream_format`` ``sse`` (the plugin asks for it for ``gpt-4o-mini-tts``) sends
  ``speech.audio.delta`` events (base64 audio of the response format) and ``speech.audio.done``
  with usage; ``audio`` sends the bytes.
* ``GET /v1/models`` (``openai.LLM`` prewarm) and ``GET /v1/`` (``openai.TTS`` prewarm).
* ``GET /_test/requests``: the request log (method, path, status, seconds, details), JSON.

Models load once, when the server starts. Run it as ``python tests/openai_server.py --port 0``:
it prints ``PORT <n>`` on stdout once it listens, logs to stderr, and stops on SIGTERM/SIGINT.
Token counts are real for the LLM (SmolLM2's tokenizer); for STT and TTS they are estimates (see
``audio_tokens``, ``text_tokens``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import logging
import math
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from aiohttp import WSMsgType, web

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import this worktree's lkmon
    sys.path.insert(0, str(ROOT))

logger = logging.getLogger("openai_server")

OUT_RATE = 24000
"""Hz of the audio OpenAI's speech endpoint returns (and of realtime input audio)."""
WHISPER_RATE = 16000
MAX_TOKENS = 40
"""Cap on SmolLM2 tokens per reply."""
SPEECH_DB = -40.0
"""dBFS of a 10 ms frame above which the realtime "VAD" hears speech."""
ONSET_MS = 60
"""Milliseconds of consecutive speech frames that open a segment."""
STOPWORDS = frozenset(
    {"get", "set", "current", "the", "a", "an", "of", "to", "for", "now", "fetch", "look", "up",
     "lookup", "check", "tool", "my", "is", "what", "do", "make", "find", "query", "me", "user"}
)
NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}


# -- models ------------------------------------------------------------------------------------


class Models:
    """The three offline models, loaded and warmed once (lkmon.local's loading code)."""

    def __init__(self) -> None:
        from lkmon.local import PiperTTS, SmolLLM, WhisperSTT

        t0 = time.perf_counter()
        self.stt = WhisperSTT()  # one CTranslate2 thread, as lkmon.local does (see WhisperSTT)
        self.llm = SmolLLM(n_threads=1, max_tokens=MAX_TOKENS, max_sentences=1)
        self.tts = PiperTTS(intra_op_threads=2)
        self.stt.warm_up()
        self.llm.warm_up()
        self.tts.warm_up()
        logger.info("models loaded in %.2f s", time.perf_counter() - t0)

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the templated prompt (SmolLM2's chat template)."""
        return len(self.llm._tokenize(messages))

    def count_text_tokens(self, text: str) -> int:
        return len(self.llm._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def audio_tokens(seconds: float) -> int:
    """Estimated audio tokens for ``seconds`` of audio (OpenAI bills ~10 per second of input)."""
    return max(1, math.ceil(seconds * 10))


def text_tokens(text: str) -> int:
    """Estimated text tokens: one per 4 characters."""
    return max(1, math.ceil(len(text) / 4))


# -- request log -------------------------------------------------------------------------------


@dataclass(slots=True)
class RequestRecord:
    """One request: ``seconds`` is the whole exchange (a stream: until its last byte)."""

    method: str
    path: str
    query: str
    started_at: float
    status: int | None = None
    seconds: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "started_at": self.started_at,
            "status": self.status,
            "seconds": self.seconds,
            "info": self.info,
        }




@web.middleware
async def log_requests(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    server: OpenAIServer = request.app[SERVER_KEY]
    if request.path.startswith("/_test/"):
        return await handler(request)
    rec = RequestRecord(request.method, request.path, request.query_string, time.time())
    server.requests.append(rec)
    request["record"] = rec
    t0 = time.perf_counter()
    try:
        resp = await handler(request)
        rec.status = resp.status
        return resp
    except web.HTTPException as e:
        rec.status = e.status
        raise
    except (ConnectionError, asyncio.CancelledError):
        rec.status = rec.status or 499  # the client went away
        raise
    except Exception as e:
        rec.status = 500
        rec.info["error"] = repr(e)
        logger.exception("%s %s failed", request.method, request.path)
        raise
    finally:
        rec.seconds = time.perf_counter() - t0
        logger.info("%s %s %s %.3f s %s", rec.method, rec.path, rec.status, rec.seconds,
                    json.dumps(rec.info)[:200])


def info(request: web.Request) -> dict[str, Any]:
    rec = request.get("record")
    return rec.info if rec is not None else {}


def api_error(status: int, message: str, type_: str = "invalid_request_error") -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": type_, "param": None, "code": None}},
        status=status,
    )


# -- chat completions --------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return str(content)


def _flat(text: str) -> str:
    return " ".join(text.split())


def short_context(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What SmolLM2 sees: the first system message, then the last user message and what came
    after it (later system messages, tool results as ``"<tool> returned: <output>"``).

    With no user message: the system message and the later system messages (a greeting's
    ``generate_reply(instructions=...)``).
    """
    system = ""
    start = 0
    if messages and messages[0].get("role") in ("system", "developer"):
        system = _flat(_text_of(messages[0].get("content")))
        start = 1
    rest = messages[start:]
    last_user = max((i for i, m in enumerate(rest) if m.get("role") == "user"), default=None)
    tail = rest[last_user:] if last_user is not None else rest
    names = {
        tc.get("id"): (tc.get("function") or {}).get("name", "tool")
        for m in rest
        for tc in (m.get("tool_calls") or [])
    }
    out: list[dict[str, str]] = [
        {"role": "system", "content": system or "You are a friendly voice assistant."}
    ]
    for m in tail:
        role = m.get("role")
        text = _flat(_text_of(m.get("content")))
        if role == "user" and text:
            out.append({"role": "user", "content": text})
        elif role in ("system", "developer") and text:
            out.append({"role": "system", "content": text})
        elif role == "tool":
            name = names.get(m.get("tool_call_id"), "tool")
            out.append({"role": "system", "content": f"{name} returned: {text}"})
    return out


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def choose_tool(tools: list[dict[str, Any]], user_text: str) -> dict[str, Any] | None:
    """The first tool every word of whose name (stopwords aside) is among the user's words."""
    said = set(_words(user_text))
    for tool in tools:
        fn = tool.get("function") or {}
        name = fn.get("name") or ""
        keys = [w for w in re.split(r"[_\W]+", name.lower()) if w and w not in STOPWORDS]
        if keys and all(k in said for k in keys):
            return fn
    return None


def _number_in(text: str) -> int | None:
    for w in _words(text):
        if w.isdigit():
            return int(w)
        if w in NUMBER_WORDS:
            return NUMBER_WORDS[w]
    return None


def _place_in(text: str) -> str | None:
    m = re.search(r"\b(?:in|at|for|to)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)", text)
    return m.group(1) if m else None


def build_arguments(schema: dict[str, Any], user_text: str) -> dict[str, Any]:
    """Arguments for a tool: each property of its JSON schema filled from the user's words."""
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name, prop in props.items():
        out[name] = _value_for(name, prop, user_text)
    return out


def _value_for(name: str, prop: dict[str, Any], user_text: str) -> Any:
    kind = prop.get("type")
    if isinstance(kind, list):  # ["string", "null"] in strict schemas
        kind = next((k for k in kind if k != "null"), "string")
    if "enum" in prop and prop["enum"]:
        return prop["enum"][0]
    if "anyOf" in prop:
        first = next((p for p in prop["anyOf"] if p.get("type") != "null"), {"type": "string"})
        return _value_for(name, first, user_text)
    if kind in ("integer", "number"):
        n = _number_in(user_text)
        return n if n is not None else 1
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return build_arguments(prop, user_text)
    if "location" in name or "city" in name or "place" in name:
        return _place_in(user_text) or "here"
    return _flat(user_text)[:80] or name


class ChatPlan:
    """What one chat request answers with: ``kind`` text, tool_call or json."""

    def __init__(self, body: dict[str, Any], models: Models) -> None:
        messages = body.get("messages") or []
        self.messages = messages
        self.context = short_context(messages)
        self.prompt_tokens = models.count_tokens(self.context)
        last = messages[-1] if messages else {}
        self.tool: dict[str, Any] | None = None
        self.tool_output: str | None = None
        self.schema: dict[str, Any] | None = None
        tools = body.get("tools") or []
        user_text = _text_of(last.get("content")) if last.get("role") == "user" else ""
        fmt = body.get("response_format") or {}
        if last.get("role") == "tool":
            self.kind = "tool_result"
            self.tool_output = _flat(_text_of(last.get("content")))
        elif tools and body.get("tool_choice") != "none" and user_text and (
            tool := choose_tool(tools, user_text)
        ):
            self.kind = "tool_call"
            self.tool = tool
            self.arguments = json.dumps(
                build_arguments(tool.get("parameters") or {}, user_text)
            )
        elif fmt.get("type") == "json_schema":
            self.kind = "json"
            self.schema = (fmt.get("json_schema") or {}).get("schema") or {}
        elif fmt.get("type") == "json_object":
            self.kind = "json"
            self.schema = {"type": "object", "properties": {"response": {"type": "string"}}}
        else:
            self.kind = "text"


def _json_prefix_suffix(schema: dict[str, Any]) -> tuple[str, str]:
    """The JSON text around the model's reply: every property of ``schema`` filled, the last
    string property left open for the streamed reply."""
    props = schema.get("properties") or {}
    names = list(props)
    target = None
    for name in reversed(names):
        kind = props[name].get("type")
        if kind == "string" or (isinstance(kind, list) and "string" in kind):
            if "enum" not in props[name]:
                target = name
                break
    parts: list[str] = []
    prefix = "{"
    for i, name in enumerate(names):
        sep = ", " if i else ""
        if name == target:
            prefix = "{" + ", ".join(parts) + sep + json.dumps(name) + ': "'
            after = [
                f"{json.dumps(n)}: {json.dumps(_filler(n, props[n]))}" for n in names[i + 1 :]
            ]
            suffix = '"' + ("".join(", " + a for a in after)) + "}"
            return prefix, suffix
        parts.append(f"{json.dumps(name)}: {json.dumps(_filler(name, props[name]))}")
    return "{" + ", ".join(parts), "}"


def _filler(name: str, prop: dict[str, Any]) -> Any:
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if prop.get("enum"):
        return prop["enum"][0]
    if kind == "string":
        if "instruction" in name or "voice" in name or "tone" in name:
            return "Speak in a calm, friendly tone."
        return name.replace("_", " ")
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {n: _filler(n, p) for n, p in (prop.get("properties") or {}).items()}
    return None


def tool_reply(output: str) -> str:
    """The scripted reply after a tool result: the output, as one sentence."""
    text = output.strip().strip('"') or "Done"
    return text if text[-1] in ".!?" else text + "."


class ChatStream:
    """Produces the pieces of one chat reply (text deltas or tool-call pieces) from a plan."""

    def __init__(self, plan: ChatPlan, models: Models, max_tokens: int | None) -> None:
        self.plan = plan
        self.models = models
        self.max_tokens = max_tokens
        self.cancel = threading.Event()
        self.completion_tokens = 0
        self.cached_tokens = 0

    async def model_text(self) -> AsyncIterator[str]:
        """SmolLM2's reply, piece by piece as decoded (on the LLM's worker thread)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        done = object()
        llm = self.models.llm

        def hand_over(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:
                self.cancel.set()

        def work() -> Any:
            saved = llm._max_tokens
            if self.max_tokens:
                llm._max_tokens = min(saved, self.max_tokens)
            try:
                return llm.generate_blocking(self.plan.context, hand_over, cancel=self.cancel)
            finally:
                llm._max_tokens = saved
                hand_over(done)

        worker = loop.run_in_executor(llm._executor, work)
        try:
            while (item := await queue.get()) is not done:
                yield item  # type: ignore[misc]
            usage = await worker
            self.completion_tokens = usage.completion_tokens
            self.cached_tokens = usage.prompt_cached_tokens
        finally:
            self.cancel.set()

    async def pieces(self) -> AsyncIterator[str]:
        """Text deltas (kinds text, json, tool_result)."""
        plan = self.plan
        if plan.kind == "tool_result":
            words = tool_reply(plan.tool_output or "").split(" ")
            for i, w in enumerate(words):
                yield w + (" " if i < len(words) - 1 else "")
            self.completion_tokens = self.models.count_text_tokens(" ".join(words))
            return
        if plan.kind == "json":
            prefix, suffix = _json_prefix_suffix(plan.schema or {})
            opened = False
            async for piece in self.model_text():
                # the fixed part goes with the first token, so TTFT stays the model's
                yield ("" if opened else prefix) + json.dumps(piece)[1:-1]
                opened = True
            yield suffix if opened else prefix + suffix
            self.completion_tokens += self.models.count_text_tokens(prefix + suffix)
            return
        async for piece in self.model_text():
            yield piece


def _usage(plan: ChatPlan, stream: ChatStream) -> dict[str, Any]:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": stream.completion_tokens,
        "total_tokens": plan.prompt_tokens + stream.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": stream.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    server: OpenAIServer = request.app[SERVER_KEY]
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return api_error(400, "We could not parse the JSON body of your request.")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return api_error(400, "'messages' is a required property")
    model = body.get("model") or "gpt-4.1"
    plan = ChatPlan(body, server.models)
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    stream = ChatStream(plan, server.models, max_tokens)
    rec = info(request)
    rec.update(kind=plan.kind, model=model, stream=bool(body.get("stream")),
               prompt_tokens=plan.prompt_tokens, tools=[
                   (t.get("function") or {}).get("name") for t in body.get("tools") or []])
    if plan.tool is not None:
        rec["tool"] = plan.tool.get("name")
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    if not body.get("stream"):
        return await _chat_whole(plan, stream, model, cid, created, rec)

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
                 "x-request-id": "req_" + uuid.uuid4().hex[:24]},
    )
    await resp.prepare(request)

    async def send(choices: list[dict[str, Any]], usage: Any = None) -> None:
        chunk: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_lkmon_offline",
            "choices": choices,
        }
        if include_usage:
            chunk["usage"] = usage
        await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

    def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    t0 = time.perf_counter()
    try:
        if plan.kind == "tool_call":
            assert plan.tool is not None
            call_id = "call_" + uuid.uuid4().hex[:24]
            await send(choice({"role": "assistant", "content": None, "tool_calls": [{
                "index": 0, "id": call_id, "type": "function",
                "function": {"name": plan.tool.get("name"), "arguments": ""}}],
                "refusal": None}))
            rec["ttft"] = time.perf_counter() - t0
            for part in _split(plan.arguments, 6):
                await send(choice({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
            stream.completion_tokens = server.models.count_text_tokens(
                plan.tool.get("name", "") + plan.arguments) + 5
            rec["arguments"] = plan.arguments
            await send(choice({}, "tool_calls"))
        else:
            await send(choice({"role": "assistant", "content": "", "refusal": None}))
            text = ""
            async for piece in stream.pieces():
                if not text:
                    rec["ttft"] = time.perf_counter() - t0
                text += piece
                await send(choice({"content": piece}))
            rec["text"] = text
            await send(choice({}, "stop"))
        rec["completion_tokens"] = stream.completion_tokens
        if include_usage:
            await send([], _usage(plan, stream))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        stream.cancel.set()
        rec["cancelled"] = True
        raise
    return resp


async def _chat_whole(
    plan: ChatPlan, stream: ChatStream, model: str, cid: str, created: int, rec: dict[str, Any]
) -> web.Response:
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None,
                               "annotations": []}
    finish = "stop"
    if plan.kind == "tool_call":
        assert plan.tool is not None
        message["tool_calls"] = [{
            "id": "call_" + uuid.uuid4().hex[:24], "type": "function",
            "function": {"name": plan.tool.get("name"), "arguments": plan.arguments}}]
        stream.completion_tokens = 10
        finish = "tool_calls"
    else:
        message["content"] = "".join([p async for p in stream.pieces()])
        rec["text"] = message["content"]
    return web.json_response({
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_lkmon_offline",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(plan, stream),
    })


# -- transcriptions ----------------------------------------------------------------------------


def decode_audio(data: bytes) -> tuple[np.ndarray, float]:
    """Any soundfile-readable audio -> (16 kHz mono float32, seconds)."""
    pcm, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = pcm.mean(axis=1)
    seconds = len(mono) / rate if rate else 0.0
    if rate != WHISPER_RATE:
        mono = soxr.resample(mono, rate, WHISPER_RATE)
    return np.ascontiguousarray(mono, dtype=np.float32), seconds


async def transcribe(models: Models, audio16k: np.ndarray) -> str:
    loop = asyncio.get_running_loop()
    text, _conf = await loop.run_in_executor(
        models.stt._executor, models.stt.transcribe_blocking, audio16k
    )
    return text


def _transcription_usage(model: str, seconds: float, text: str) -> dict[str, Any]:
    if model.startswith("whisper"):
        return {"type": "duration", "seconds": math.ceil(seconds)}
    a, t = audio_tokens(seconds), text_tokens(text)
    return {
        "type": "tokens",
        "input_tokens": a,
        "input_token_details": {"text_tokens": 0, "audio_tokens": a},
        "output_tokens": t,
        "total_tokens": a + t,
    }


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3600000)
    m, ms = divmod(ms, 60000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


async def audio_transcriptions(request: web.Request) -> web.Response:
    server: OpenAIServer = request.app[SERVER_KEY]
    fields: dict[str, str] = {}
    data: bytes | None = None
    reader = await request.multipart()
    async for part in reader:
        if part.name == "file":
            data = await part.read()
        elif part.name:
            fields[part.name] = await part.text()
    if data is None:
        return api_error(400, "'file' is a required property")
    model = fields.get("model", "whisper-1")
    fmt = fields.get("response_format", "json")
    try:
        audio, seconds = decode_audio(data)
    except Exception as e:
        return api_error(400, f"Audio file might be corrupted or unsupported: {e}")
    text = await transcribe(server.models, audio)
    info(request).update(model=model, response_format=fmt, audio_seconds=round(seconds, 3),
                         text=text, language=fields.get("language"))
    usage = _transcription_usage(model, seconds, text)
    if fmt == "text":
        return web.Response(text=text + "\n", content_type="text/plain")
    if fmt in ("srt", "vtt"):
        if fmt == "srt":
            body = f"1\n{_timestamp(0, ',')} --> {_timestamp(seconds, ',')}\n{text}\n\n"
        else:
            body = f"WEBVTT\n\n{_timestamp(0, '.')} --> {_timestamp(seconds, '.')}\n{text}\n\n"
        return web.Response(text=body, content_type="text/plain")
    if fmt == "verbose_json":
        return web.json_response({
            "task": "transcribe",
            "language": "english",
            "duration": round(seconds, 2),
            "text": text,
            "segments": [{
                "id": 0, "seek": 0, "start": 0.0, "end": round(seconds, 2), "text": " " + text,
                "tokens": [], "temperature": 0.0, "avg_logprob": -0.3,
                "compression_ratio": 1.0, "no_speech_prob": 0.01}],
            "usage": {"type": "duration", "seconds": math.ceil(seconds)},
        })
    return web.json_response({"text": text, "usage": usage})


# -- realtime transcription --------------------------------------------------------------------


class RealtimeTranscription:
    """One realtime transcription websocket: energy segmentation, Whisper per segment."""

    def __init__(self, ws: web.WebSocketResponse, models: Models, model: str) -> None:
        self.ws = ws
        self.models = models
        self.model = model
        self.rate = OUT_RATE
        self.silence_ms = 350
        self.prefix_ms = 600
        self.server_vad = True
        self.audio: list[np.ndarray] = []  # every sample since the start (int16)
        self.total = 0  # samples received
        self.pending = np.zeros(0, dtype=np.int16)  # not yet framed
        self.frame_n = 0  # 10 ms frames processed
        self.in_speech = False
        self.run_speech = 0  # consecutive speech frames
        self.run_quiet = 0  # consecutive quiet frames while in speech
        self.seg_start_ms = 0
        self.commit_from = 0  # sample where the uncommitted buffer starts
        self.item_id: str | None = None
        self.previous_item: str | None = None
        self.jobs: asyncio.Task[None] | None = None
        self.segments: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        event = {"event_id": "event_" + uuid.uuid4().hex[:20], **event}
        if not self.ws.closed:
            await self.ws.send_json(event)

    def session_dict(self) -> dict[str, Any]:
        return {
            "type": "transcription",
            "id": "sess_" + uuid.uuid4().hex[:20],
            "object": "realtime.transcription_session",
            "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": self.rate},
                "transcription": {"model": self.model},
                "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                   "prefix_padding_ms": self.prefix_ms,
                                   "silence_duration_ms": self.silence_ms}
                if self.server_vad else None,
            }},
        }

    def configure(self, session: dict[str, Any]) -> None:
        audio_in = ((session.get("audio") or {}).get("input")) or {}
        fmt = audio_in.get("format") or {}
        if fmt.get("rate"):
            self.rate = int(fmt["rate"])
        tr = audio_in.get("transcription") or {}
        if tr.get("model"):
            self.model = tr["model"]
        if "turn_detection" in audio_in:
            td = audio_in.get("turn_detection")
            self.server_vad = td is not None
            if td:
                self.silence_ms = int(td.get("silence_duration_ms", self.silence_ms))
                self.prefix_ms = int(td.get("prefix_padding_ms", self.prefix_ms))

    def ms(self, samples: int) -> int:
        return int(samples * 1000 / self.rate)

    async def append(self, pcm: np.ndarray) -> None:
        self.audio.append(pcm)
        self.total += len(pcm)
        if not self.server_vad:
            return
        frame = self.rate // 100
        buf = np.concatenate([self.pending, pcm]) if len(self.pending) else pcm
        n = len(buf) // frame
        self.pending = buf[n * frame :]
        if n == 0:
            return
        frames = buf[: n * frame].astype(np.float32).reshape(n, frame) / 32768.0
        db = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
        for level in db:
            self.frame_n += 1
            speech = level > SPEECH_DB
            if not self.in_speech:
                self.run_speech = self.run_speech + 1 if speech else 0
                if self.run_speech * 10 >= ONSET_MS:
                    onset_ms = (self.frame_n - self.run_speech) * 10
                    start_ms = max(self.ms(self.commit_from), onset_ms - self.prefix_ms, 0)
                    self.in_speech, self.run_quiet = True, 0
                    self.seg_start_ms = start_ms
                    self.item_id = "item_" + uuid.uuid4().hex[:20]
                    await self.send({"type": "input_audio_buffer.speech_started",
                                     "audio_start_ms": start_ms, "item_id": self.item_id})
            else:
                self.run_quiet = 0 if speech else self.run_quiet + 1
                if self.run_quiet * 10 >= self.silence_ms:
                    end_ms = self.frame_n * 10
                    self.in_speech, self.run_speech = False, 0
                    await self.send({"type": "input_audio_buffer.speech_stopped",
                                     "audio_end_ms": end_ms, "item_id": self.item_id})
                    await self.commit(self.seg_start_ms, end_ms)

    async def commit(self, start_ms: int | None = None, end_ms: int | None = None) -> None:
        """Close the current segment and transcribe it (in order, one at a time)."""
        item_id = self.item_id or "item_" + uuid.uuid4().hex[:20]
        self.item_id = None
        if start_ms is None:
            start_ms = self.ms(self.commit_from)
        if end_ms is None:
            end_ms = self.ms(self.total)
        await self.send({"type": "input_audio_buffer.committed",
                         "previous_item_id": self.previous_item, "item_id": item_id})
        self.previous_item = item_id
        all_audio = np.concatenate(self.audio) if self.audio else np.zeros(0, np.int16)
        self.audio = [all_audio]
        a = int(start_ms * self.rate / 1000)
        b = min(int(end_ms * self.rate / 1000), len(all_audio))
        self.commit_from = b
        segment = all_audio[a:b]
        previous = self.jobs
        self.jobs = asyncio.create_task(self._transcribe(previous, item_id, segment))

    async def _transcribe(
        self, previous: asyncio.Task[None] | None, item_id: str, segment: np.ndarray
    ) -> None:
        audio = segment.astype(np.float32) / 32768.0
        if self.rate != WHISPER_RATE and len(audio):
            audio = soxr.resample(audio, self.rate, WHISPER_RATE)
        seconds = len(segment) / self.rate
        t0 = time.perf_counter()
        text = await transcribe(self.models, np.ascontiguousarray(audio, dtype=np.float32))
        if previous is not None:
            await previous  # events of earlier segments go first
        self.segments.append({"item_id": item_id, "audio_seconds": round(seconds, 3),
                              "text": text, "seconds": round(time.perf_counter() - t0, 3)})
        words = text.split(" ")
        for i in range(0, len(words), 3):  # a delta per few words, as gpt-4o-*-transcribe does
            piece = " ".join(words[i : i + 3]) + (" " if i + 3 < len(words) else "")
            await self.send({"type": "conversation.item.input_audio_transcription.delta",
                             "item_id": item_id, "content_index": 0, "delta": piece})
        a, t = audio_tokens(seconds), text_tokens(text)
        await self.send({
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item_id, "content_index": 0, "transcript": text,
            "usage": {"type": "tokens", "input_tokens": a, "output_tokens": t,
                      "total_tokens": a + t,
                      "input_token_details": {"text_tokens": 0, "audio_tokens": a}},
        })

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in ("session.update", "transcription_session.update"):
            self.configure(event.get("session") or {})
            await self.send({"type": "session.updated", "session": self.session_dict()})
        elif kind == "input_audio_buffer.append":
            pcm = np.frombuffer(base64.b64decode(event.get("audio", "")), dtype=np.int16)
            await self.append(pcm)
        elif kind == "input_audio_buffer.commit":
            if self.in_speech:
                self.in_speech, self.run_speech = False, 0
                await self.commit(self.seg_start_ms, None)
            elif self.total > self.commit_from:
                await self.commit()
            else:
                await self.send({"type": "error", "error": {
                    "type": "invalid_request_error", "code": "input_audio_buffer_commit_empty",
                    "message": "Error committing input audio buffer: buffer is empty."}})
        elif kind == "input_audio_buffer.clear":
            self.commit_from = self.total
            self.in_speech = False
            await self.send({"type": "input_audio_buffer.cleared"})
        else:
            await self.send({"type": "error", "error": {
                "type": "invalid_request_error", "code": "unknown_event",
                "message": f"Unknown event type {kind!r}"}})


async def realtime(request: web.Request) -> web.StreamResponse:
    server: OpenAIServer = request.app[SERVER_KEY]
    ws = web.WebSocketResponse(heartbeat=None)
    if not ws.can_prepare(request).ok:
        return api_error(400, "expected a websocket upgrade")
    await ws.prepare(request)
    rt = RealtimeTranscription(ws, server.models, request.query.get("model", "gpt-4o-transcribe"))
    rec = info(request)
    rec.update(intent=request.query.get("intent"), model=rt.model, segments=rt.segments,
               events={})
    await rt.send({"type": "session.created", "session": rt.session_dict()})
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                event = json.loads(msg.data)
                kind = event.get("type", "?")
                rec["events"][kind] = rec["events"].get(kind, 0) + 1
                await rt.handle(event)
            elif msg.type == WSMsgType.ERROR:
                break
        if rt.jobs is not None:
            await asyncio.gather(rt.jobs, return_exceptions=True)
    finally:
        rec["audio_seconds"] = round(rt.total / rt.rate, 3)
        if rt.jobs is not None and not rt.jobs.done():
            rt.jobs.cancel()
    return ws


# -- speech ------------------------------------------------------------------------------------


CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


class Mp3Encoder:
    """A streaming MP3 encoder (libmp3lame through PyAV): int16 mono 24 kHz in, MP3 frames out.

    Raw MP3 frames need no container: their concatenation is a valid MP3 stream.
    """

    def __init__(self, rate: int = OUT_RATE) -> None:
        import av

        self._av = av
        self.ctx = av.CodecContext.create("libmp3lame", "w")
        self.ctx.sample_rate = rate
        self.ctx.layout = "mono"
        self.ctx.format = "s16p"
        self.ctx.bit_rate = 64000
        self.ctx.open()
        self.rate = rate
        self.frame_size = self.ctx.frame_size or 1152
        self.pending = np.zeros(0, dtype=np.int16)
        self.pts = 0

    def _encode(self, samples: np.ndarray | None) -> bytes:
        out = b""
        frame = None
        if samples is not None:
            frame = self._av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16p",
                                                    layout="mono")
            frame.sample_rate = self.rate
            frame.pts = self.pts
            self.pts += samples.shape[0]
        for packet in self.ctx.encode(frame):
            out += bytes(packet)
        return out

    def write(self, pcm: np.ndarray) -> bytes:
        buf = np.concatenate([self.pending, pcm])
        n = len(buf) // self.frame_size * self.frame_size
        self.pending = buf[n:]
        out = b""
        for i in range(0, n, self.frame_size):
            out += self._encode(buf[i : i + self.frame_size])
        return out

    def flush(self) -> bytes:
        out = b""
        if len(self.pending):
            tail = np.zeros(self.frame_size, dtype=np.int16)
            tail[: len(self.pending)] = self.pending
            out += self._encode(tail)
            self.pending = np.zeros(0, dtype=np.int16)
        return out + self._encode(None)


def encode_whole(pcm: np.ndarray, fmt: str) -> bytes:
    """The whole utterance (int16 mono 24 kHz) as a file of ``fmt`` (wav, flac, opus, aac)."""
    if fmt in ("wav", "flac"):
        buf = io.BytesIO()
        sf.write(buf, pcm, OUT_RATE, format=fmt.upper(), subtype="PCM_16")
        return buf.getvalue()
    import av

    container_fmt, codec, rate = {
        "opus": ("ogg", "libopus", 48000),
        "aac": ("adts", "aac", OUT_RATE),
    }[fmt]
    audio = pcm
    if rate != OUT_RATE:
        audio = soxr.resample(pcm, OUT_RATE, rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1).astype(np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


async def piper_pcm(
    models: Models, text: str, cancel: threading.Event
) -> AsyncIterator[np.ndarray]:
    """Piper's audio for ``text`` at 24 kHz int16, one piece per sentence as synthesised."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    done = object()
    tts = models.tts
    resampler = soxr.ResampleStream(tts.sample_rate, OUT_RATE, 1, dtype="int16")

    def hand_over(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:
            cancel.set()

    def work() -> None:
        try:
            tts.synthesize_blocking(text, hand_over, cancel)
        finally:
            hand_over(done)

    worker = loop.run_in_executor(tts._executor, work)
    try:
        while (item := await queue.get()) is not done:
            pcm = np.frombuffer(item, dtype=np.int16)  # type: ignore[arg-type]
            out = resampler.resample_chunk(pcm)
            if len(out):
                yield out
        await worker
        tail = resampler.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        if len(tail):
            yield tail
    finally:
        cancel.set()


async def audio_speech(request: web.Request) -> web.StreamResponse:
    server: OpenAIServer = request.app[SERVER_KEY]
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return api_error(400, "We could not parse the JSON body of your request.")
    text = body.get("input")
    if not isinstance(text, str) or not text:
        return api_error(400, "'input' is a required property")
    fmt = body.get("response_format") or "mp3"
    if fmt not in CONTENT_TYPES:
        return api_error(400, f"Invalid response_format {fmt!r}")
    stream_format = body.get("stream_format") or "audio"
    model = body.get("model") or "tts-1"
    rec = info(request)
    rec.update(model=model, voice=body.get("voice"), response_format=fmt,
               stream_format=stream_format, characters=len(text), text=text,
               instructions=body.get("instructions"))
    sse = stream_format == "sse"
    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "text/event-stream" if sse else CONTENT_TYPES[fmt],
        "x-request-id": "req_" + uuid.uuid4().hex[:24]})
    await resp.prepare(request)
    cancel = threading.Event()
    mp3 = Mp3Encoder() if fmt == "mp3" else None
    whole: list[np.ndarray] = []
    samples = 0
    t0 = time.perf_counter()

    async def emit(data: bytes) -> None:
        if not data:
            return
        if "ttfb" not in rec:
            rec["ttfb"] = time.perf_counter() - t0
        if sse:
            event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
            await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        else:
            await resp.write(data)

    try:
        async for pcm in piper_pcm(server.models, text, cancel):
            samples += len(pcm)
            if mp3 is not None:
                await emit(mp3.write(pcm))
            elif fmt == "pcm":
                await emit(pcm.tobytes())
            else:
                whole.append(pcm)
        if mp3 is not None:
            await emit(mp3.flush())
        elif whole:
            await emit(encode_whole(np.concatenate(whole), fmt))
        seconds = samples / OUT_RATE
        rec["audio_seconds"] = round(seconds, 3)
        if sse:
            i, o = text_tokens(text), audio_tokens(seconds)
            done = {"type": "speech.audio.done",
                    "usage": {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}}
            await resp.write(b"data: " + json.dumps(done).encode() + b"\n\n")
        await resp.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        cancel.set()
        rec["cancelled"] = True
        raise
    return resp


# -- misc --------------------------------------------------------------------------------------


MODEL_IDS = ["gpt-4.1", "gpt-4.1-mini", "gpt-4o-mini", "gpt-4o-mini-transcribe",
             "gpt-4o-transcribe", "whisper-1", "gpt-4o-mini-tts", "tts-1"]


async def list_models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [
        {"id": m, "object": "model", "created": 1700000000, "owned_by": "lkmon-offline"}
        for m in MODEL_IDS]})


async def root(request: web.Request) -> web.Response:
    return web.Response(text="lkmon offline OpenAI-compatible server\n")


async def test_requests(request: web.Request) -> web.Response:
    server: OpenAIServer = request.app[SERVER_KEY]
    return web.json_response([r.to_dict() for r in server.requests])


async def test_clear(request: web.Request) -> web.Response:
    server: OpenAIServer = request.app[SERVER_KEY]
    server.requests.clear()
    return web.json_response({"cleared": True})


SERVER_KEY: web.AppKey[OpenAIServer] = web.AppKey("server")


class OpenAIServer:
    """The server: ``await start(port)``, then ``port``; ``requests`` is the log."""

    def __init__(self, models: Models) -> None:
        self.models = models
        self.requests: list[RequestRecord] = []
        self.app = web.Application(middlewares=[log_requests], client_max_size=64 * 1024**2)
        self.app[SERVER_KEY] = self
        self.app.add_routes([
            web.post("/v1/chat/completions", chat_completions),
            web.post("/v1/audio/transcriptions", audio_transcriptions),
            web.post("/v1/audio/speech", audio_speech),
            web.get("/v1/realtime", realtime),
            web.get("/v1/models", list_models),
            web.get("/v1/", root),
            web.get("/v1", root),
            web.get("/", root),
            web.get("/_test/requests", test_requests),
            web.post("/_test/clear", test_clear),
        ])
        self.runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def _main(port: int) -> None:
    models = Models()
    server = OpenAIServer(models)
    bound = await server.start(port=port)
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free one)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_main(args.port))


if __name__ == "__main__":
    main()
