"""``AuditLog``: the hash-chained JSON Lines audit log (contract section 10).

Lines are written by libagentauth's writer (the same hash chain as the
engine's), so ``agent-auth audit --verify`` checks them.
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Dict, List, Optional, Union

from . import _core
from ._util import raise_core
from .config import _policy_of
from .errors import AuditError
from .types import AuthConfig, AuthDecision, AuthRequest

__all__ = ["AuditLog"]


class AuditLog:
    """The audit log at ``path``.

    ``config`` and ``state`` (ours, optional) say where the state store is
    that ``verify`` checks the recorded chain head in, as for an engine:
    ``state`` (a path, ``sqlite:PATH`` or a ``postgresql://`` URL), else
    the environment's ``AGENT_AUTH_STATE_URL``, else ``config``'s state.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"] =
                 ".agent_auth/audit.jsonl", *,
                 config: Optional[AuthConfig] = None,
                 state: Optional[Union[str, "os.PathLike[str]"]] = None
                 ) -> None:
        self.path = pathlib.Path(path)
        self.config = config
        self.state = None if state is None else os.fspath(state)

    def write(self, request: AuthRequest, decision: AuthDecision,
              config: Optional[AuthConfig] = None) -> None:
        """Appends an "authorize" line for a decision (the engine writes
        its own decisions itself; this is for decisions made elsewhere)."""
        name = config.metadata.name if config is not None else ""
        version = config.version if config is not None else "1.0"
        try:
            _core.audit_append(os.fspath(self.path), request,
                               bool(decision.allowed), str(decision.tier),
                               decision.reason or "",
                               bool(decision.requires_approval),
                               decision.approval_policy or "",
                               float(decision.evaluation_time_ms or 0.0),
                               name or "", version or "1.0")
        except _core.CoreError as e:
            raise_core(e, refused=ValueError)

    def read(self, *, since: Optional[str] = None, agent: Optional[str] = None,
             user: Optional[str] = None, action: Optional[str] = None,
             allowed: Optional[bool] = None, limit: int = 1000,
             events: Union[bool, str] = False) -> List[Dict[str, Any]]:
        """The first ``limit`` entries (0: all) that pass the filters, in
        file order, as dicts. Decision entries only, unless ``events`` is
        True (every entry: session and delegation changes too) or names one
        event ("session.create"...). Malformed lines are skipped."""
        if not self.path.exists():
            return []
        which = 0 if allowed is None else (1 if allowed else 2)
        if events is True:
            event = None
        elif events is False:
            event = "authorize"
        else:
            event = str(events)
        if limit is None:
            limit = 0
        if limit < 0:
            raise ValueError("limit must be 0 (all) or more")
        if limit == 0:
            limit = 1 << 62
        try:
            lines, _skipped = _core.audit_read(os.fspath(self.path), since,
                                               agent, user, action, event,
                                               which, limit)
        except _core.CoreError as e:
            raise_core(e, refused=AuditError)
        return [json.loads(line) for line in lines]

    def verify(self, *, require_anchor: bool = False) -> bool:
        """True when the hash chain is intact, as ``agent-auth audit
        --verify`` says; the messages are in ``last_verify``.

        With a PostgreSQL state (see the class), the chain head its writers
        recorded there is checked too: lines cut from the end of the log,
        or its first lines deleted, make it False, with the messages the
        command prints ("truncated: the file has 4 lines, but the state
        store recorded 6 ..."). ``last_verify["recorded"]`` is that head
        (``{"lines", "head"}``) or None. ``require_anchor`` (with a
        PostgreSQL state, as ``--require-anchor``) makes a log with no
        recorded head False. A database that cannot be reached raises
        StateError ("State store unavailable: ..."); a SQLite state records
        no heads and changes nothing."""
        policy = None if self.config is None else _policy_of(self.config)
        try:
            ok, lines, bad, messages, recorded = _core.audit_verify(
                os.fspath(self.path), policy, self.state, require_anchor)
        except _core.CoreError as e:
            raise_core(e, refused=AuditError)
        self.last_verify = {"ok": ok, "lines": lines, "bad_line": bad,
                            "messages": messages, "recorded": recorded}
        return ok

    def clear(self) -> None:
        """Removes the log file (a new chain starts with the next line)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
