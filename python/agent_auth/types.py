"""Request, decision, state and configuration types of agent_auth.

The names, field order and defaults are those of ``theaios.agent_auth.types``
so that code written for it works unchanged; a few fields of our own
(``AuditConfig.fsync``, ``StateConfig``...) follow with their defaults.
"""
from __future__ import annotations

import enum
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional

__all__ = [
    "ApprovalTier", "A2ADefault", "SessionStatus", "DelegationStatus",
    "VALID_TIERS", "VALID_A2A_DEFAULTS", "VALID_SESSION_STATUSES",
    "VALID_DELEGATION_STATUSES", "TIER_ORDER",
    "AuthRequest", "AuthDecision", "ExplainedDecision", "TraceStep",
    "Session", "DelegationGrant",
    "RoleConfig", "AgentProfileConfig", "ApprovalPolicyConfig",
    "DelegationRuleConfig", "DelegationConfig", "A2APolicyConfig",
    "A2AConfig", "SessionConfig", "AuditConfig", "StateConfig",
    "AuthMetadata", "AuthConfig",
]


class ApprovalTier(str, enum.Enum):
    """How much human approval an allowed action needs."""
    AUTONOMOUS = "autonomous"
    SOFT = "soft"
    STRONG = "strong"


class A2ADefault(str, enum.Enum):
    """What an agent-to-agent call gets when no A2A policy matches."""
    ALLOW = "allow"
    DENY = "deny"


class SessionStatus(str, enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class DelegationStatus(str, enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


# Requests and decisions keep their fields in slots (Python 3.10+): the C
# extension reads and writes them directly, which is most of the cost of a
# call. They are otherwise ordinary, mutable dataclasses.
_fast = dataclass(slots=True) if sys.version_info >= (3, 10) else dataclass

VALID_TIERS = {t.value for t in ApprovalTier}
VALID_A2A_DEFAULTS = {d.value for d in A2ADefault}
VALID_SESSION_STATUSES = {s.value for s in SessionStatus}
VALID_DELEGATION_STATUSES = {s.value for s in DelegationStatus}
TIER_ORDER = {"autonomous": 0, "soft": 1, "strong": 2}


@_fast
class AuthRequest:
    """One question: may ``agent``, acting for ``user``, do ``action``?

    ``metadata`` maps str keys to JSON-like scalars (str, int, float, bool,
    None) or lists of them; anything else is refused with a TypeError or
    ValueError naming the field when the request is decided.
    """
    agent: str
    user: str
    action: str
    resource: str = ""
    session_id: Optional[str] = None
    scope: str = ""
    target_agent: Optional[str] = None
    metadata: Dict[str, Any] = field(default_factory=dict)


@_fast
class AuthDecision:
    """The answer to an AuthRequest."""
    allowed: bool
    tier: str = "autonomous"
    reason: str = ""
    requires_approval: bool = False
    approval_policy: str = ""
    evaluation_time_ms: float = 0.0

    @property
    def is_denied(self) -> bool:
        """True when the request was denied."""
        return not self.allowed

    @property
    def is_autonomous(self) -> bool:
        """True when allowed without any human approval."""
        return (self.allowed and self.tier == "autonomous"
                and not self.requires_approval)


class TraceStep(NamedTuple):
    """One step of the decision pipeline, as ``AuthEngine.explain`` reports
    it: ``step`` (session, profile, deny, scope, allow, delegation,
    user_permissions, a2a, result, approval, audit), ``detail`` (what was
    checked and what decided) and ``outcome`` (1 passed or matched, 0 did
    not, -1 denied here)."""
    step: str
    detail: str
    outcome: int


@_fast
class ExplainedDecision(AuthDecision):
    """An AuthDecision with the trace of how it was reached."""
    trace: List[TraceStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.trace = [TraceStep(*t) for t in self.trace]

    def explanation(self) -> str:
        """The trace as text, one step a line."""
        marks = {1: "+", 0: " ", -1: "x"}
        return "\n".join("%s %-16s %s" % (marks.get(t[2], "?"), t[0], t[1])
                         for t in self.trace)


@dataclass
class Session:
    """A time-limited authorization context (timestamps are ISO 8601 UTC)."""
    session_id: str
    agent: str
    user: str
    scope: str = ""
    created_at: str = ""
    expires_at: str = ""
    status: str = "active"


@dataclass
class DelegationGrant:
    """A temporary grant of actions from a user to an agent."""
    delegation_id: str
    from_user: str
    to_agent: str
    actions: List[str] = field(default_factory=list)
    granted_at: str = ""
    expires_at: str = ""
    reason: str = ""
    status: str = "active"


# ---- configuration ---------------------------------------------------------

@dataclass
class RoleConfig:
    name: str
    actions: List[str] = field(default_factory=list)
    extends: str = ""
    description: str = ""


@dataclass
class AgentProfileConfig:
    name: str
    role: str = ""
    allow: List[str] = field(default_factory=list)
    deny: List[str] = field(default_factory=list)
    scopes: List[str] = field(default_factory=list)
    max_session_duration: int = 3600
    default_tier: str = "autonomous"
    description: str = ""


@dataclass
class ApprovalPolicyConfig:
    name: str
    condition: str = ""
    tier: str = "soft"
    description: str = ""


@dataclass
class DelegationRuleConfig:
    name: str
    allowed_actions: List[str] = field(default_factory=list)
    max_duration: int = 86400
    require_reason: bool = False
    description: str = ""


@dataclass
class DelegationConfig:
    enabled: bool = True
    default_duration: int = 3600
    max_duration: int = 86400
    rules: List[DelegationRuleConfig] = field(default_factory=list)


@dataclass
class A2APolicyConfig:
    name: str
    from_agent: str = "*"
    to_agent: str = "*"
    action: str = "*"
    effect: str = "allow"
    condition: str = ""
    description: str = ""


@dataclass
class A2AConfig:
    default: str = "deny"
    policies: List[A2APolicyConfig] = field(default_factory=list)


@dataclass
class SessionConfig:
    default_duration: int = 3600
    max_duration: int = 86400
    cleanup_interval: int = 300


@dataclass
class AuditConfig:
    enabled: bool = True
    path: str = ".agent_auth/audit.jsonl"
    retention_days: int = 90
    # ours
    fsync: str = "never"
    on_failure: str = "deny"


@dataclass
class StateConfig:
    """Ours: where sessions and delegations live. An empty path means
    ``state.db`` beside the audit log."""
    path: str = ""


@dataclass
class AuthMetadata:
    name: str = ""
    description: str = ""
    author: str = ""


@dataclass
class AuthConfig:
    """A whole policy. ``load_config`` returns one; one built or changed in
    Python is what ``AuthEngine`` is built from."""
    version: str = "1.0"
    metadata: AuthMetadata = field(default_factory=AuthMetadata)
    variables: Dict[str, Any] = field(default_factory=dict)
    roles: Dict[str, RoleConfig] = field(default_factory=dict)
    profiles: Dict[str, AgentProfileConfig] = field(default_factory=dict)
    approval_policies: List[ApprovalPolicyConfig] = field(default_factory=list)
    delegation: DelegationConfig = field(default_factory=DelegationConfig)
    a2a: A2AConfig = field(default_factory=A2AConfig)
    sessions: SessionConfig = field(default_factory=SessionConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    # ours
    state: StateConfig = field(default_factory=StateConfig)
