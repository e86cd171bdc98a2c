"""lkmon's pure model: events, turns, latency statistics, VAD, usage and cost.

Nothing in this package imports textual or livekit. ``lkmon.model.state.SessionModel`` folds
``lkmon.model.events`` into the state every pane renders.
"""
