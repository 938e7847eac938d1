"""A bridge to theaios-guardrails: authorization before guardrails.

``GuardrailsAuthAdapter`` wraps a guardrails engine (any object with
``evaluate(event)``): a guard event is first authorized by agent_auth; a
denial or a required approval answers at once, otherwise the wrapped
engine decides. The guardrails package is imported only when one of its
decisions is built, so this module imports without it.
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from ..engine import AuthEngine
from ..types import AuthConfig, AuthRequest

__all__ = ["GuardrailsAuthAdapter"]


def _decision(**kw: Any) -> Any:
    try:
        from theaios.guardrails.types import Decision  # type: ignore
    except ImportError as e:
        raise ImportError("GuardrailsAuthAdapter needs the theaios-guardrails "
                          "package to build its decisions") from e
    return Decision(**kw)


class GuardrailsAuthAdapter:
    """Authorizes guard events with agent_auth before ``guardrails_engine``
    sees them. ``auth_config`` is an AuthConfig (or an AuthEngine)."""

    def __init__(self, auth_config: Any, guardrails_engine: Any,
                 default_user: str = "system") -> None:
        if isinstance(auth_config, AuthEngine):
            self._auth_engine = auth_config
        elif isinstance(auth_config, AuthConfig):
            self._auth_engine = AuthEngine(auth_config)
        else:
            raise TypeError("auth_config must be an AuthConfig or AuthEngine, "
                            "not %s" % type(auth_config).__name__)
        self._guardrails_engine = guardrails_engine
        self._default_user = default_user

    def _request(self, event: Any, user: Optional[str],
                 session_id: Optional[str]) -> AuthRequest:
        data = getattr(event, "data", None) or {}
        scope = getattr(event, "scope", "")
        scope_text = str(getattr(scope, "value", scope) or "")
        action = data.get("action") if isinstance(data, dict) else None
        return AuthRequest(
            agent=str(getattr(event, "agent", "") or ""),
            user=user or self._default_user,
            action=str(action) if action else scope_text,
            resource=str(data.get("resource", "")) if isinstance(data, dict) else "",
            session_id=session_id or getattr(event, "session_id", None),
            scope=scope_text,
            target_agent=getattr(event, "target_agent", None))

    def _verdict(self, decision: Any, event: Any) -> Any:
        if not decision.allowed:
            return _decision(outcome="deny",
                             reason="Auth denied: %s" % decision.reason,
                             severity="high")
        if decision.requires_approval:
            return _decision(outcome="require_approval",
                             reason="Auth requires %s approval: %s" %
                             (decision.tier, decision.reason),
                             tier=decision.tier, severity="medium")
        return None

    def evaluate(self, event: Any, user: Optional[str] = None,
                 session_id: Optional[str] = None) -> Any:
        """The guardrails decision for ``event``, after authorization."""
        d = self._auth_engine.authorize(self._request(event, user, session_id))
        v = self._verdict(d, event)
        return v if v is not None else self._guardrails_engine.evaluate(event)

    async def evaluate_async(self, event: Any, user: Optional[str] = None,
                             session_id: Optional[str] = None) -> Any:
        """``evaluate`` without blocking the event loop."""
        d = await self._auth_engine.authorize_async(
            self._request(event, user, session_id))
        v = self._verdict(d, event)
        if v is not None:
            return v
        inner = getattr(self._guardrails_engine, "evaluate_async", None)
        if inner is not None:
            return await inner(event)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._guardrails_engine.evaluate,
                                          event)
