"""``python -m lkmon``: the same as the ``lkmon`` command."""

from lkmon.cli import run

run()
