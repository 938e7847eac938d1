"""Internal helpers shared by the modules of agent_auth."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, NoReturn, Optional

from . import _core
from .errors import AgentAuthError, AuditError, ConfigError, StateError
from .types import (AuthDecision, AuthRequest, DelegationGrant,
                    ExplainedDecision, Session)

_core.set_types(AuthDecision, ExplainedDecision, AuthRequest)

# A duration long enough to mean "no limit" for the standalone managers.
FOREVER_S = 100 * 365 * 86400


def raise_core(e: "_core.CoreError", refused: type = ValueError) -> NoReturn:
    """Turns a library error into the documented exception class."""
    status, name, messages = e.args
    text = "; ".join(messages)
    if name in ("EPOLICY", "EPARSE"):
        raise ConfigError(messages) from None
    if name in ("EREFUSED", "EINVAL"):
        raise refused(text) from None
    cls = {"ESTATE": StateError, "EBUSY": StateError, "EAUDIT": AuditError,
           "ETAMPER": AuditError}.get(name, AgentAuthError)
    err = cls(text)
    err.status = name
    err.messages = list(messages)  # type: ignore[attr-defined]
    raise err from None


def session_of(t: tuple) -> Session:
    return Session(*t)


def grant_of(t: tuple) -> DelegationGrant:
    return DelegationGrant(*t)


# Sessions and grants of a _core.Engine, with library errors raised as the
# documented exceptions; AuthEngine and the standalone managers share them.

def create_session(engine: "_core.Engine", agent: str, user: str, scope: str,
                   duration: Optional[int]) -> Session:
    try:
        return session_of(engine.session_create(agent, user, scope, duration))
    except _core.CoreError as e:
        raise_core(e)


def validate_session(engine: "_core.Engine",
                     session_id: str) -> Optional[Session]:
    try:
        t = engine.session_validate(session_id)
    except _core.CoreError as e:
        raise_core(e)
    return None if t is None else session_of(t)


def revoke_session(engine: "_core.Engine", session_id: str) -> bool:
    try:
        return engine.session_revoke(session_id)
    except _core.CoreError as e:
        raise_core(e)


def list_sessions(engine: "_core.Engine", agent: Optional[str],
                  user: Optional[str]) -> List[Session]:
    try:
        return [session_of(t) for t in engine.session_list(agent, user)]
    except _core.CoreError as e:
        raise_core(e)


def check_actions(actions: Iterable[str]) -> List[str]:
    """The actions of a grant as a list; TypeError for a lone str."""
    if isinstance(actions, str):
        raise TypeError("actions must be a list of str, not a str")
    return list(actions)


def create_delegation(engine: "_core.Engine", from_user: str, to_agent: str,
                      actions: Iterable[str], duration: Optional[int],
                      reason: str) -> DelegationGrant:
    actions = check_actions(actions)
    try:
        return grant_of(engine.delegation_create(from_user, to_agent, actions,
                                                 duration, reason))
    except _core.CoreError as e:
        raise_core(e)


def revoke_delegation(engine: "_core.Engine", delegation_id: str) -> bool:
    try:
        return engine.delegation_revoke(delegation_id)
    except _core.CoreError as e:
        raise_core(e)


def list_delegations(engine: "_core.Engine",
                     agent: Optional[str]) -> List[DelegationGrant]:
    try:
        return [grant_of(t) for t in engine.delegation_list(agent)]
    except _core.CoreError as e:
        raise_core(e)


def cleanup(engine: "_core.Engine", retention_s: int) -> int:
    """Marks expired sessions and grants, deletes those inactive for more
    than retention_s; how many were marked."""
    try:
        return engine.state_cleanup(retention_s)[0]
    except _core.CoreError as e:
        raise_core(e)


def load_policy(doc: Dict[str, Any]) -> "_core.Policy":
    """A policy from a document made in Python (no environment variables)."""
    try:
        return _core.Policy(json.dumps(doc, ensure_ascii=False), "<config>",
                            False, False, False)
    except _core.CoreError as e:
        raise_core(e)


def standalone_policy(state_path: str, extra: Dict[str, Any]) -> "_core.Policy":
    """A policy for a manager that lives outside an engine: no audit, the
    state at `state_path`."""
    state_path = os.fspath(state_path)
    doc: Dict[str, Any] = {
        "version": "1.0",
        "audit": {"enabled": False,
                  "path": os.path.join(os.path.dirname(state_path) or ".",
                                       "audit.jsonl")},
        "sessions": {"default_duration": 3600, "max_duration": FOREVER_S},
        "state": {"path": state_path},
    }
    doc.update(extra)
    return load_policy(doc)


def open_engine(policy: "_core.Policy", **kw: Any) -> "_core.Engine":
    try:
        return _core.Engine(policy, policy.state_path, **kw)
    except _core.CoreError as e:
        raise_core(e)
