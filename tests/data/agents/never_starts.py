"""An agent file whose entrypoint never starts a session."""

import asyncio

from livekit.agents import AgentServer, JobContext, cli

server = AgentServer()


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    await asyncio.sleep(3600)


if __name__ == "__main__":
    cli.run_app(server)
