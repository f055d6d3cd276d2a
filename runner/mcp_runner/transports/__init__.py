"""Transports: how the composed server meets its clients (served by the builtin plugin)."""
