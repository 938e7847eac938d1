"""``ApprovalEvaluator``: the approval tier of an action (contract
section 7), decided by libagentauth's engine."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from . import _synth
from .types import ApprovalPolicyConfig, AuthRequest

__all__ = ["ApprovalEvaluator"]

_FIELDS = ("agent", "user", "resource", "scope", "session_id", "target_agent")


def _request(action: str, context: Optional[Mapping[str, Any]]) -> AuthRequest:
    context = dict(context or {})
    meta: Dict[str, Any] = {}
    if isinstance(context.get("metadata"), Mapping):
        meta.update(context["metadata"])
    for k, v in context.items():
        if k not in _FIELDS and k not in ("metadata", "action"):
            meta[k] = v
    return AuthRequest(agent=str(context.get("agent") or "agent"),
                       user=str(context.get("user") or "user"),
                       action=action,
                       resource=str(context.get("resource") or ""),
                       scope=str(context.get("scope") or ""),
                       metadata=meta)


class ApprovalEvaluator:
    """The approval policies ``policies`` (a list of ApprovalPolicyConfig)
    with ``variables`` for their conditions. A condition that cannot be
    evaluated counts as matched (fail closed)."""

    def __init__(self, policies: List[ApprovalPolicyConfig],
                 variables: Optional[Dict[str, Any]] = None) -> None:
        self.policies = list(policies)
        self.variables = dict(variables or {})
        self._docs = {"approval_policies": _synth.plain(self.policies),
                      "variables": _synth.plain(self.variables)}
        _synth.policy(self._docs)  # ConfigError now for a bad condition
        self._engines: Dict[tuple, Any] = {}

    def _engine(self, agent: str, default_tier: str):
        key = (agent, default_tier)
        got = self._engines.get(key)
        if got is None:
            doc = dict(self._docs)
            doc["profiles"] = {agent: {"allow": ["*"],
                                       "default_tier": default_tier}}
            got = _synth.engine(doc)
            if len(self._engines) > 64:
                self._engines.clear()
            self._engines[key] = got
        return got[1]

    def evaluate(self, action: str, context: Optional[Mapping[str, Any]] = None,
                 default_tier: str = "autonomous") -> str:
        """The tier ``action`` needs in ``context`` (agent, user, resource,
        scope and metadata keys): the most restrictive of ``default_tier``
        and every matching policy's tier."""
        return self.evaluate_decision(action, context, default_tier).tier

    def evaluate_decision(self, action: str,
                          context: Optional[Mapping[str, Any]] = None,
                          default_tier: str = "autonomous"):
        """As ``evaluate``, returning the whole decision (``tier`` and
        ``approval_policy``, the first matching policy with that tier)."""
        req = _request(action, context)
        return self._engine(req.agent, default_tier).authorize(req)
