"""An older-style agent file: cli.run_app(WorkerOptions(entrypoint_fnc=...)), never started."""

import asyncio

from livekit.agents import JobContext, WorkerOptions, cli


async def entrypoint(ctx: JobContext) -> None:
    await asyncio.sleep(3600)


if __name__ == "__main__":
    cli.run_app(WorkerOptions(entrypoint_fnc=entrypoint))
