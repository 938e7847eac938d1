"""agent_auth: authorization for AI agents, backed by libagentauth.

The API of theaios.agent_auth (change the import prefix and keep your
code), with the hardened rules of libagentauth::

    from agent_auth import load_config, AuthEngine, AuthRequest

    engine = AuthEngine(load_config("agent_auth.yaml"))
    decision = engine.authorize(AuthRequest(agent="assistant", user="alice",
                                            action="read"))
    decision.allowed, decision.is_autonomous
"""
from __future__ import annotations

from . import _core
from .errors import (AgentAuthError, AuditError, ConfigError, ExpressionError,
                     StateError)
from .types import (TIER_ORDER, VALID_A2A_DEFAULTS, VALID_DELEGATION_STATUSES,
                    VALID_SESSION_STATUSES, VALID_TIERS, A2AConfig,
                    A2ADefault, A2APolicyConfig, AgentProfileConfig,
                    ApprovalPolicyConfig, ApprovalTier, AuditConfig,
                    AuthConfig, AuthDecision, AuthMetadata, AuthRequest,
                    DelegationConfig, DelegationGrant, DelegationRuleConfig,
                    DelegationStatus, ExplainedDecision, RoleConfig, Session,
                    SessionConfig, SessionStatus, StateConfig, TraceStep)
from .config import load_config, validate_config
from .engine import AuthEngine, UserPermissionsProvider
from .sessions import SessionManager
from .delegation import DelegationManager
from .audit import AuditLog

__version__: str = _core.version()


def authorize(config: AuthConfig, request: AuthRequest) -> AuthDecision:
    """Decides one request with a one-shot engine over ``config`` (make an
    AuthEngine once to decide many)."""
    return AuthEngine(config).authorize(request)


__all__ = [
    "__version__", "authorize",
    "AgentAuthError", "AuditError", "ConfigError", "ExpressionError",
    "StateError",
    "TIER_ORDER", "VALID_A2A_DEFAULTS", "VALID_DELEGATION_STATUSES",
    "VALID_SESSION_STATUSES", "VALID_TIERS", "A2AConfig", "A2ADefault",
    "A2APolicyConfig", "AgentProfileConfig", "ApprovalPolicyConfig",
    "ApprovalTier", "AuditConfig", "AuthConfig", "AuthDecision",
    "AuthMetadata", "AuthRequest", "DelegationConfig", "DelegationGrant",
    "DelegationRuleConfig", "DelegationStatus", "ExplainedDecision",
    "RoleConfig", "Session", "SessionConfig", "SessionStatus", "StateConfig",
    "TraceStep", "load_config", "validate_config", "AuthEngine",
    "UserPermissionsProvider", "SessionManager", "DelegationManager",
    "AuditLog",
]
