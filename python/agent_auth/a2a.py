"""``A2AEvaluator``: agent-to-agent policies (contract section 8), decided
by libagentauth's engine."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from . import _synth
from .types import A2AConfig, AuthRequest

__all__ = ["A2AEvaluator"]


class A2AEvaluator:
    """The A2A configuration ``a2a_config`` with ``variables`` for its
    conditions. A deny policy whose condition cannot be evaluated counts
    as matched; an allow policy's does not (fail closed)."""

    def __init__(self, a2a_config: A2AConfig,
                 variables: Optional[Dict[str, Any]] = None) -> None:
        self.config = a2a_config
        self.variables = dict(variables or {})
        self._doc = {"a2a": _synth.plain(a2a_config),
                     "variables": _synth.plain(self.variables)}
        _synth.policy(self._doc)
        self._engines: Dict[str, Any] = {}

    def _engine(self, agent: str):
        got = self._engines.get(agent)
        if got is None:
            doc = dict(self._doc)
            doc["profiles"] = {agent: {"allow": ["*"]}}
            got = _synth.engine(doc)
            if len(self._engines) > 64:
                self._engines.clear()
            self._engines[agent] = got
        return got[1]

    def evaluate(self, from_agent: str, to_agent: str, action: str,
                 context: Optional[Mapping[str, Any]] = None) -> Tuple[bool, str]:
        """(allowed, reason) for ``from_agent`` calling ``to_agent`` to do
        ``action``; ``context`` keys are metadata of the call."""
        context = dict(context or {})
        meta: Dict[str, Any] = {}
        if isinstance(context.get("metadata"), Mapping):
            meta.update(context.pop("metadata"))
        user = str(context.pop("user", "") or "user")
        resource = str(context.pop("resource", "") or "")
        scope = str(context.pop("scope", "") or "")
        for k in ("agent", "from_agent", "to_agent", "action", "target_agent"):
            context.pop(k, None)
        meta.update(context)
        req = AuthRequest(agent=from_agent, user=user, action=action,
                          resource=resource, scope=scope,
                          target_agent=to_agent, metadata=meta)
        d = self._engine(from_agent).explain(req)
        if not d.allowed:
            return False, d.reason
        for step, detail, outcome in d.trace:
            if step == "a2a" and outcome == 1:
                if "default is allow" in detail:
                    return True, "Allowed by default A2A policy"
                for p in self.config.policies:
                    if detail.startswith("policy '%s' (allow)" % p.name):
                        return True, "Allowed by A2A policy: " + (
                            p.description or p.name)
        return True, "Allowed by default A2A policy"
