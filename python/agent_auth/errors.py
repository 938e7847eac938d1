"""The exceptions of agent_auth: every one is an AgentAuthError."""
from __future__ import annotations

from typing import Iterable, List

__all__ = ["AgentAuthError", "ConfigError", "StateError", "AuditError",
           "ExpressionError"]


class AgentAuthError(Exception):
    """Base class of every error agent_auth raises itself (bad argument
    types raise TypeError/ValueError instead)."""

    status: str = ""


class ConfigError(AgentAuthError, ValueError):
    """A policy that cannot be loaded. ``errors`` holds every message, each
    ``file:line:col: message`` where the position is known."""

    def __init__(self, errors: Iterable[str] | str):
        if isinstance(errors, str):
            errors = [errors]
        self.errors: List[str] = list(errors)
        super().__init__("Invalid configuration:\n" +
                         "\n".join("  - " + e for e in self.errors))


class StateError(AgentAuthError):
    """The session and delegation store failed (locked, unreadable...)."""


class AuditError(AgentAuthError):
    """The audit log could not be written or read."""


class ExpressionError(AgentAuthError, ValueError):
    """A condition that does not compile or cannot be evaluated. ``pos`` is
    the 0-based offset into ``source`` (-1 when not tied to a place)."""

    def __init__(self, message: str, source: str = "", pos: int = -1):
        self.message = message
        self.source = source
        self.pos = pos
        text = message
        if source and pos >= 0:
            text = "%s at position %d\n  %s\n  %s^" % (message, pos, source,
                                                       " " * pos)
        super().__init__(text)
