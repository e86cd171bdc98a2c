"""``agent_entry.py`` as a user's agent with lkmon's recorder in its entrypoint (issue 14 part 1).

The same server as ``agent_entry.py`` (its ``prewarm``, ``make_session`` and ``Assistant``), whose
entrypoint adds the recorder's two lines when ``$LKMON_BENCH_RECORD`` names a folder::

    from lkmon import record
    record(session, journal=FOLDER)

Without the variable it is ``agent_entry.py``'s entrypoint exactly, so the benchmark's two arms
run the same file and differ by the recorder alone. Started by ``lkmon run bench/_agent_record.py
--process`` (``bench/recorder.py``), i.e. ``python -m livekit.agents console`` in its own process.
"""

from __future__ import annotations

import asyncio
import os

from livekit.agents import AgentServer, JobContext

import agent_entry

RECORD_ENV = "LKMON_BENCH_RECORD"
"""A folder: record each session's journal into it. Unset or empty: no recorder."""

server = AgentServer()
server.setup_fnc = agent_entry.prewarm


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    ctx.log_context_fields = {"room": ctx.room.name}
    if "models" not in ctx.proc.userdata:  # started without the server's setup_fnc
        await asyncio.to_thread(agent_entry.prewarm, ctx.proc)
    session = agent_entry.make_session(ctx.proc.userdata)
    folder = os.environ.get(RECORD_ENV, "")
    if folder:
        from lkmon import record

        record(session, journal=folder if folder.endswith("/") else folder + "/")
    await session.start(agent=agent_entry.Assistant(), room=ctx.room)
    await ctx.connect()
