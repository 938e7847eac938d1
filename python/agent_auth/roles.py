"""Role inheritance, resolved by libagentauth."""
from __future__ import annotations

import json
from typing import Dict, List, NamedTuple, Set

from . import _synth
from .types import RoleConfig

__all__ = ["ResolvedRole", "resolve_role"]


class ResolvedRole(NamedTuple):
    """A role with the actions of its whole chain (``chain`` starts with
    the role itself and follows ``extends``)."""
    name: str
    actions: Set[str]
    chain: List[str]


def resolve_role(name: str, roles: Dict[str, RoleConfig]) -> ResolvedRole:
    """Resolves ``name`` through ``extends``. ConfigError for an unknown
    parent or a cycle (naming it); KeyError for an unknown role."""
    if name not in (roles or {}):
        raise KeyError("unknown role '%s'" % name)
    p = _synth.policy({"roles": _synth.roles_doc(roles)})
    for r in json.loads(p.describe())["roles"]:
        if r["name"] == name:
            return ResolvedRole(name, set(r["resolved_actions"]),
                                list(r["chain"]))
    raise KeyError("unknown role '%s'" % name)
