"""Audio around the agent: the caller (WAV, text, mic) and the agent's output (sinks)."""
