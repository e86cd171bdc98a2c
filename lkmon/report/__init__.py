"""Exports rendered from a session: the HTML report and the export bundle."""
