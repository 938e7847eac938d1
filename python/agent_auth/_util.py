"""Internal helpers shared by the modules of agent_auth."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, NoReturn

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
    try:
        return _core.Policy(json.dumps(doc, ensure_ascii=False), "<config>",
                            False, False, False)
    except _core.CoreError as e:
        raise_core(e)


def open_engine(policy: "_core.Policy", **kw: Any) -> "_core.Engine":
    try:
        return _core.Engine(policy, policy.state_path, **kw)
    except _core.CoreError as e:
        raise_core(e)
