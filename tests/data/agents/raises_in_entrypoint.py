"""An agent file whose entrypoint raises before starting its session."""

from livekit.agents import AgentServer, JobContext, cli

server = AgentServer()


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    raise RuntimeError("database unreachable")


if __name__ == "__main__":
    cli.run_app(server)
