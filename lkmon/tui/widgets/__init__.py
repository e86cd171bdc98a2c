"""lkmon panes: one module per pane, thin views over ``lkmon.model.state.SessionModel``."""
