"""What SmolLM2-135M sees, and the keyword router that stands in for its missing tool calling."""

from __future__ import annotations

import re
from collections.abc import Mapping

from livekit.agents import llm, utils
from livekit.agents.llm.tool_context import is_function_tool, is_raw_function_tool

DEFAULT_SYSTEM_PROMPT = "You are a friendly voice assistant. Reply in one or two short sentences."
"""Used when the chat context carries no instructions."""

Message = dict[str, str]
"""One chat-template message: ``{"role": ..., "content": ...}``."""

_NAME_STOPWORDS = frozenset(
    {"get", "set", "current", "the", "a", "an", "of", "to", "for", "now", "fetch", "look", "up",
     "lookup", "check", "tool", "my", "is", "what", "do", "make", "find", "query"}
)
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "no"})


def build_messages(
    chat_ctx: llm.ChatContext, *, system_prompt: str | None = None, max_history: int = 1
) -> list[Message]:
    """The short ``[{"role", "content"}, ...]`` conversation SmolLM2 sees.

    The system prompt (``system_prompt`` if given, else the context's first system message,
    i.e. the agent's instructions, else :data:`DEFAULT_SYSTEM_PROMPT`), whitespace collapsed to
    one line; then the last ``max_history`` user/assistant messages, each followed by what came
    after it: later system messages (e.g. ``generate_reply(instructions=...)``) and tool
    outputs, written as system messages ``"<tool> returned: <output>"`` (the form SmolLM2-135M
    answers from best). With more history SmolLM2-135M copies its earlier replies.
    """
    instructions: str | None = None
    turns: list[list[Message]] = []  # a message, then what followed it (tools, system)
    for item in chat_ctx.items:
        if item.type == "message":
            text = " ".join((item.text_content or "").split())
            if not text:
                continue
            role = "system" if item.role in ("system", "developer") else item.role
            if role == "system" and instructions is None and not turns:
                instructions = text
            elif role == "system" and turns:
                turns[-1].append({"role": role, "content": text})
            else:
                turns.append([{"role": role, "content": text}])
        elif item.type == "function_call_output":
            result = " ".join(item.output.split())
            note = {"role": "system", "content": f"{item.name or 'tool'} returned: {result}"}
            if turns:
                turns[-1].append(note)
            else:
                turns.append([note])
    system = " ".join((system_prompt or instructions or DEFAULT_SYSTEM_PROMPT).split())
    recent = [m for turn in turns[-max(1, max_history) :] for m in turn]
    return [{"role": "system", "content": system}, *recent]


def route_tool_call(
    chat_ctx: llm.ChatContext,
    tools: list[llm.Tool],
    keywords: Mapping[str, frozenset[str]] | None = None,
) -> llm.FunctionToolCall | None:
    """A keyword router, not the model: a tool call for the last user message, or ``None``.

    SmolLM2-135M cannot call functions. When the last chat item is a user message, the first
    offered tool that takes no required argument and whose keywords occur among the user's
    words is called with arguments ``"{}"``. A tool's keywords are ``keywords[name]`` if given,
    else the words of its name without verbs like get/set/current (``get_current_time`` ->
    ``{"time"}``). After the tool's output is added, the last item is no longer a user message,
    so the next call generates the reply.
    """
    if not tools or not chat_ctx.items:
        return None
    last = chat_ctx.items[-1]
    if last.type != "message" or last.role != "user":
        return None
    words = set(re.findall(r"[a-z]+", (last.text_content or "").lower()))
    for tool in tools:
        if is_function_tool(tool):
            name = tool.info.name
            schema = llm.utils.build_legacy_openai_schema(tool)["function"]["parameters"]
        elif is_raw_function_tool(tool):
            name = tool.info.name
            schema = tool.info.raw_schema.get("parameters", {})
        else:
            continue
        if schema.get("required"):
            continue
        wanted = (keywords or {}).get(name) or name_keywords(name)
        if wanted & words:
            return llm.FunctionToolCall(name=name, arguments="{}", call_id=utils.shortuuid("call_"))
    return None


def name_keywords(name: str) -> frozenset[str]:
    """Words of a tool name (snake_case or camelCase), without generic verbs and fillers."""
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower())
    return frozenset(w for w in words if w not in _NAME_STOPWORDS)


def ends_sentence(text: str) -> bool:
    """True when ``text`` ends a sentence: ``.``, ``!`` or ``?`` (and closing quotes), not a
    decimal point, an initial or a common abbreviation such as ``Mr.``."""
    m = re.search(r"([.!?])[\"')\]]*$", text)
    if m is None:
        return False
    if m.group(1) == ".":
        head = text[: m.start()]
        if head[-1:].isdigit():
            return False
        word = head.split()[-1].lower() if head.split() else ""
        if len(word) <= 1 or word in _ABBREVIATIONS:
            return False
    return True
