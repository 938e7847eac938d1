"""``SessionManager``: sessions outside an engine (contract section 9)."""
from __future__ import annotations

from typing import List, Optional

from . import _util
from ._util import FOREVER_S, open_engine, standalone_policy
from .types import Session

__all__ = ["SessionManager"]


class SessionManager:
    """Creates, validates, revokes and lists sessions stored at ``path``.

    The store is a SQLite file (whatever the file is named), shared safely
    by threads and processes; no profile limits apply here (use
    ``AuthEngine.create_session`` for a policy's limits).
    """

    def __init__(self, path: str = ".agent_auth/sessions.jsonl") -> None:
        self._policy = standalone_policy(path, {})
        self._engine = open_engine(self._policy)
        self.path = path

    def create(self, agent: str, user: str, scope: str = "",
               duration: int = 3600) -> Session:
        """A new active session; ValueError for a duration below 1."""
        return _util.create_session(self._engine, agent, user, scope, duration)

    def validate(self, session_id: str) -> Optional[Session]:
        """The session when active and unexpired; None when unknown,
        expired (it is then marked expired) or revoked."""
        return _util.validate_session(self._engine, session_id)

    def revoke(self, session_id: str) -> bool:
        """True when the session was active and is now revoked."""
        return _util.revoke_session(self._engine, session_id)

    def list_active(self, agent: Optional[str] = None,
                    user: Optional[str] = None) -> List[Session]:
        """Active, unexpired sessions, optionally filtered."""
        return _util.list_sessions(self._engine, agent, user)

    def expire_stale(self) -> int:
        """Marks expired sessions; returns how many were marked."""
        return _util.cleanup(self._engine, FOREVER_S)
