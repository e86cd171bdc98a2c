"""An agent file that fails to import."""

import livekit_plugin_that_does_not_exist  # noqa: F401
