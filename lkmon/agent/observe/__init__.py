"""Turn LiveKit events and logs into lkmon events: bridge, convert, logs."""
