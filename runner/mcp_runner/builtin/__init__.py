"""Builtin plugins: registered by module path before any installed plugin, on the same hooks."""
