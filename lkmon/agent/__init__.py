"""The only lkmon package (besides ``lkmon.local``) that imports livekit.

* ``loader``: import a user's agent file by path and find its entrypoint;
* ``runner``: ``SessionRunner`` runs it in-process with a simulated job context;
* ``sources`` / ``mic`` / ``sinks``: the caller (WAV, mic, text) and the audio output;
* ``bridge`` / ``convert``: LiveKit events -> ``lkmon.model.events`` dataclasses;
* ``logs``: livekit/lkmon logging -> ``LogRecord`` events.
"""
