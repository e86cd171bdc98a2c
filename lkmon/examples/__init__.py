"""Agent files that ship inside lkmon, so ``lkmon run`` works from any folder.

``agent_entry.py`` is lkmon's default agent: an ordinary LiveKit agent file (the repository's
root ``agent_entry.py`` is a link to it, for those who copy it). It is imported by path as any
agent file is, never as ``lkmon.examples.agent_entry`` by lkmon itself.
"""

from __future__ import annotations

from pathlib import Path

AGENT_ENTRY = Path(__file__).resolve().with_name("agent_entry.py")
"""The default agent file as installed."""

LOCAL_NAME = "agent_entry.py"
"""A file of this name in the current folder is what ``lkmon run`` starts (as in lkmon 0.1)."""


def default_agent_file(cwd: Path | None = None) -> Path:
    """The agent file ``lkmon run`` starts when it is given none.

    Args:
        cwd: the folder to look in; default the current folder.

    Returns:
        ``agent_entry.py`` (relative, as the user would type it) when ``cwd`` has one: a copied
        and edited default agent wins; else :data:`AGENT_ENTRY`, the one lkmon ships.
    """
    folder = Path.cwd() if cwd is None else cwd
    return Path(LOCAL_NAME) if (folder / LOCAL_NAME).is_file() else AGENT_ENTRY
