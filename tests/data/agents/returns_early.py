"""An agent file whose entrypoint returns without starting a session."""

from livekit.agents import AgentServer, JobContext, cli

server = AgentServer()


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    return None


if __name__ == "__main__":
    cli.run_app(server)
