"""Load an unchanged LiveKit agent file in-process and find its entrypoint.

The file is imported by path as a module whose ``__name__`` is not ``"__main__"``, so its
``if __name__ == "__main__": cli.run_app(server)`` does not run. Its directory goes on
``sys.path`` (for its sibling imports); loading ``.env`` is left to the file, as LiveKit's own CLI
leaves it.

Found, in this order:
* an ``AgentServer`` module attribute with a registered ``@server.rtc_session()`` entrypoint
  (``compat.server_entrypoint``; its prewarm is the public ``setup_fnc``);
* a ``WorkerOptions``/``ServerOptions`` module attribute;
* for older files, a ``WorkerOptions(entrypoint_fnc=NAME, prewarm_fnc=NAME)`` call anywhere in
  the source (typically ``cli.run_app(WorkerOptions(...))``), with NAMEs resolved in the module.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from lkmon.agent.observe import compat
from lkmon.agent.observe.convert import describe_exception
from lkmon.errors import UsageError

NOT_AN_AGENT = "not a LiveKit agent file: no AgentServer with an @server.rtc_session() entrypoint"


@dataclass(slots=True)
class AgentFile:
    """A loaded agent file.

    Attributes:
        path: the file, resolved.
        module: the imported module.
        entrypoint: the ``async def entrypoint(ctx: JobContext)`` function.
        setup_fnc: the prewarm function ``(proc: JobProcess) -> Any``, or None.
        server: the ``AgentServer`` when the file has one.
    """

    path: Path
    module: ModuleType
    entrypoint: Callable[[Any], Awaitable[None]]
    setup_fnc: Callable[[Any], Any] | None
    server: Any = None


def _module_name(path: Path) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"lkmon_agent_{stem}"


def import_agent_module(path: Path) -> ModuleType:
    """Import ``path`` as a module named ``lkmon_agent_<stem>``.

    Raises:
        UsageError: missing, unreadable or not ``.py``; or importing it raised.
    """
    if not path.exists():
        raise UsageError(f"agent file not found: {path}")
    if path.is_dir():
        raise UsageError(f"agent file is a directory: {path}")
    if path.suffix != ".py":
        raise UsageError(f"agent file must be a Python .py file: {path}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"agent file is not readable: {path}")
    resolved = path.resolve()
    name = _module_name(resolved)
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import agent file: {path}")
    module = importlib.util.module_from_spec(spec)
    folder = str(resolved.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except UsageError:
        sys.modules.pop(name, None)
        raise
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise UsageError(
            f"agent file {path} fails to import: SyntaxError: {e.msg} (line {e.lineno})"
        ) from None
    except (Exception, SystemExit, KeyboardInterrupt) as e:
        sys.modules.pop(name, None)
        detail = describe_exception(e)  # one line, even when its __str__ raises
        raise UsageError(f"agent file {path} fails to import: {detail}") from None
    return module


def _options_call(source: str) -> tuple[str | None, str | None]:
    """Names passed as entrypoint and prewarm to a ``WorkerOptions(...)`` call in ``source``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None, None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if fname not in ("WorkerOptions", "ServerOptions"):
            continue
        entry = prewarm = None
        if node.args and isinstance(node.args[0], ast.Name):
            entry = node.args[0].id
        for kw in node.keywords:
            if kw.arg == "entrypoint_fnc" and isinstance(kw.value, ast.Name):
                entry = kw.value.id
            elif kw.arg == "prewarm_fnc" and isinstance(kw.value, ast.Name):
                prewarm = kw.value.id
        if entry:
            return entry, prewarm
    return None, None


def find_entrypoint(path: Path, module: ModuleType) -> AgentFile:
    """Find the entrypoint in an imported agent module.

    Raises:
        UsageError: ``NOT_AN_AGENT`` when none is found.
    """
    from livekit.agents import AgentServer, WorkerOptions

    for value in vars(module).values():
        if isinstance(value, AgentServer):
            entry = compat.server_entrypoint(value)
            if entry is not None:
                return AgentFile(path, module, entry, value.setup_fnc, value)
    for value in vars(module).values():
        if isinstance(value, WorkerOptions) and callable(value.entrypoint_fnc):
            return AgentFile(path, module, value.entrypoint_fnc, value.prewarm_fnc)
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        source = ""
    entry_name, prewarm_name = _options_call(source)
    entry = getattr(module, entry_name, None) if entry_name else None
    if callable(entry):
        prewarm = getattr(module, prewarm_name, None) if prewarm_name else None
        return AgentFile(path, module, entry, prewarm if callable(prewarm) else None)
    raise UsageError(f"{NOT_AN_AGENT}: {path}")


def load_agent_file(path: str | Path) -> AgentFile:
    """Import an agent file and find its entrypoint and prewarm function.

    Raises:
        UsageError: one line for a missing/unreadable/non-.py file, an import that raises, or a
            file with no entrypoint.
    """
    p = Path(path)
    module = import_agent_module(p)
    return find_entrypoint(p, module)
