"""lkmon: a terminal monitor for LiveKit voice agents."""

__version__ = "0.1.0"
