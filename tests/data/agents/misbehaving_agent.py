"""A LiveKit agent file that misbehaves as ``$MISBEHAVE`` says, for lkmon's reliability tests.

Scripted LLM and TTS from ``scripted_agent.py`` beside it (no network, no weights; no STT or
VAD: it is typed to, and closing a session with an idle STT waits 2 s for a last transcript).
Set ``MISBEHAVE`` to one of:

* ``surrogate``: logs a file name that is not UTF-8 (``bad\\udcffname``, as ``os.listdir`` gives
  for a Latin-1 name) once the session has started;
* ``exit_entrypoint`` / ``exit_prewarm``: ``sys.exit(3)`` in the entrypoint / in prewarm;
* ``interrupt_entrypoint``: raises ``KeyboardInterrupt`` in the entrypoint;
* ``bad_str``: raises an exception whose ``__str__`` raises;
* ``exit_after_start``: ``sys.exit(3)`` in the entrypoint after its session started;
* ``thread``: starts a thread that raises ``RuntimeError`` naming ``$WORKER_TOKEN``.

Anything else: a well-behaved agent. Runs unchanged with LiveKit's own CLI.
"""

import logging
import os
import sys
import threading

from livekit.agents import AgentServer, AgentSession, JobContext, JobProcess, cli
from scripted_agent import Assistant, ScriptedLLM, ScriptedTTS

server = AgentServer()
log = logging.getLogger("misbehaving")
MODE = os.environ.get("MISBEHAVE", "")


class Unprintable(Exception):
    def __str__(self) -> str:
        raise ValueError("no text for you")


def prewarm(proc: JobProcess) -> None:
    if os.environ.get("MISBEHAVE") == "exit_prewarm":
        sys.exit(3)


server.setup_fnc = prewarm


def leak_in_a_thread() -> None:
    raise RuntimeError(f"worker thread lost its token {os.environ.get('WORKER_TOKEN')}")


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    mode = os.environ.get("MISBEHAVE", "")
    if mode == "exit_entrypoint":
        sys.exit(3)
    if mode == "interrupt_entrypoint":
        raise KeyboardInterrupt
    if mode == "bad_str":
        raise Unprintable()
    session = AgentSession(llm=ScriptedLLM(), tts=ScriptedTTS())  # typed to: no STT to drain
    await session.start(agent=Assistant(), room=ctx.room)
    if mode == "surrogate":
        log.warning("skipped file %s", "bad\udcffname")
    elif mode == "thread":
        worker = threading.Thread(target=leak_in_a_thread, name="agent-worker")
        worker.start()
        worker.join()
    elif mode == "exit_after_start":
        sys.exit(3)


if __name__ == "__main__":
    cli.run_app(server)
