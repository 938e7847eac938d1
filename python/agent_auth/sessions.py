"""``SessionManager``: sessions outside an engine (contract section 9)."""
from __future__ import annotations

from typing import List, Optional

from . import _core
from ._util import (FOREVER_S, open_engine, raise_core, session_of,
                    standalone_policy)
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
        try:
            return session_of(self._engine.session_create(agent, user, scope,
                                                          duration))
        except _core.CoreError as e:
            raise_core(e)

    def validate(self, session_id: str) -> Optional[Session]:
        """The session when active and unexpired; None when unknown,
        expired (it is then marked expired) or revoked."""
        try:
            t = self._engine.session_validate(session_id)
        except _core.CoreError as e:
            raise_core(e)
        return None if t is None else session_of(t)

    def revoke(self, session_id: str) -> bool:
        """True when the session was active and is now revoked."""
        try:
            return self._engine.session_revoke(session_id)
        except _core.CoreError as e:
            raise_core(e)

    def list_active(self, agent: Optional[str] = None,
                    user: Optional[str] = None) -> List[Session]:
        """Active, unexpired sessions, optionally filtered."""
        try:
            return [session_of(t) for t in self._engine.session_list(agent, user)]
        except _core.CoreError as e:
            raise_core(e)

    def expire_stale(self) -> int:
        """Marks expired sessions; returns how many were marked."""
        try:
            return self._engine.state_cleanup(FOREVER_S)[0]
        except _core.CoreError as e:
            raise_core(e)
