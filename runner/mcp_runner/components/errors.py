"""`DefinitionError`: the one error of compiling a component, raised at composition."""

from __future__ import annotations


class DefinitionError(Exception):
    """A tool, resource or prompt definition that cannot be served (raised at composition)."""
