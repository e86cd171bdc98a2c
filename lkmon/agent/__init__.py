"""The only lkmon package (besides ``lkmon.local``) that imports livekit.

* ``host``: run a user's agent file in-process: ``loader`` imports it by path and finds its
  entrypoint, ``runner.SessionRunner`` runs it with a simulated job context (``jobctx``),
  ``failures`` decides when its models failed, ``options`` holds ``RunOptions``;
* ``observe``: LiveKit events -> ``lkmon.model.events`` dataclasses (``bridge``, ``plugins``,
  ``convert``), livekit/lkmon logging -> ``LogRecord`` events (``logs``), and ``compat``: every
  private or deprecated livekit-agents access, each checked by ``tests/test_compat.py``;
* ``audio``: the caller (``callers``: WAV, text; ``mic``; ``recordings``), the agent's audio
  output (``sinks`` over ``playout``) and ``levels``;
* ``threads``: blocking calls off the event loop.
"""
