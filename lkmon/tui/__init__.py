"""The Textual front end: app, feed, lifecycle, widgets and lkmon.tcss."""
