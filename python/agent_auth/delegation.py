"""``DelegationManager``: delegation grants outside an engine."""
from __future__ import annotations

import dataclasses
from typing import Iterable, List, Optional, Union

from . import _core, _util
from ._util import FOREVER_S, check_actions, open_engine, standalone_policy
from .types import AuthConfig, AuthRequest, DelegationConfig, DelegationGrant

__all__ = ["DelegationManager"]


def _plain(obj):
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


class DelegationManager:
    """Grants of actions from users to agents, under ``config`` (a
    DelegationConfig, or an AuthConfig whose ``delegation`` is used;
    default: delegation enabled with no rules), stored at ``path``."""

    def __init__(self, config: Union[DelegationConfig, AuthConfig, None] = None,
                 path: str = ".agent_auth/delegations.jsonl") -> None:
        if isinstance(config, AuthConfig):
            config = config.delegation
        if config is None:
            config = DelegationConfig()
        if not isinstance(config, DelegationConfig):
            raise TypeError("config must be a DelegationConfig, not %s" %
                            type(config).__name__)
        self.config = config
        self.path = path
        self._policy = standalone_policy(path, {"delegation": _plain(config)})
        self._engine = open_engine(self._policy)
        self._scratch = _core.Engine(self._policy, ":memory:")

    def validate_rule(self, actions: Iterable[str], duration: Optional[int],
                      reason: str = "") -> List[str]:
        """Every rule a grant of ``actions`` for ``duration`` seconds with
        ``reason`` would break (empty when it would be made)."""
        actions = check_actions(actions)
        try:
            self._scratch.delegation_create("-", "-", actions, duration, reason)
        except _core.CoreError as e:
            return list(e.args[2])
        except ValueError as e:
            return [str(e)]
        return []

    def create(self, from_user: str, to_agent: str, actions: Iterable[str],
               duration: Optional[int] = None, reason: str = "") -> DelegationGrant:
        """A new grant; ValueError naming every rule broken."""
        return _util.create_delegation(self._engine, from_user, to_agent,
                                       actions, duration, reason)

    def check(self, agent: str, action: str,
              user: Optional[str] = None) -> Optional[DelegationGrant]:
        """The live grant that lets ``agent`` do ``action`` (from ``user``
        when given: a grant acts only for its own user), else None."""
        grants = self.list_active(agent)
        users = [user] if user is not None else \
            list(dict.fromkeys(g.from_user for g in grants))
        for u in users:
            d = self._engine.explain(AuthRequest(agent=agent, user=u,
                                                 action=action))
            if not d.allowed:
                continue
            for step, detail, outcome in d.trace:
                if step == "delegation" and outcome == 1:
                    for g in grants:
                        if "'%s'" % g.delegation_id in detail:
                            return g
        return None

    def revoke(self, delegation_id: str) -> bool:
        """True when the grant was active and is now revoked."""
        return _util.revoke_delegation(self._engine, delegation_id)

    def list_active(self, agent: Optional[str] = None) -> List[DelegationGrant]:
        """Active grants, optionally to one agent."""
        return _util.list_delegations(self._engine, agent)

    def expire_stale(self) -> int:
        """Marks expired grants; returns how many were marked."""
        return _util.cleanup(self._engine, FOREVER_S)
