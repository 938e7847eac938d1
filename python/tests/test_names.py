"""Every public name of the spec (python-api.md) exists, with its
signature: a team changes the import prefix and nothing else."""
import dataclasses
import importlib
import inspect

import pytest

SPEC = {
    "agent_auth": ["authorize", "__version__", "AgentAuthError"],
    "agent_auth.types": [
        "ApprovalTier", "A2ADefault", "SessionStatus", "DelegationStatus",
        "VALID_TIERS", "VALID_A2A_DEFAULTS", "VALID_SESSION_STATUSES",
        "VALID_DELEGATION_STATUSES", "TIER_ORDER", "AuthRequest",
        "AuthDecision", "Session", "DelegationGrant", "RoleConfig",
        "AgentProfileConfig", "ApprovalPolicyConfig", "DelegationRuleConfig",
        "DelegationConfig", "A2APolicyConfig", "A2AConfig", "SessionConfig",
        "AuditConfig", "AuthMetadata", "AuthConfig"],
    "agent_auth.config": ["ConfigError", "load_config", "validate_config"],
    "agent_auth.engine": ["UserPermissionsProvider", "AuthEngine"],
    "agent_auth.sessions": ["SessionManager"],
    "agent_auth.delegation": ["DelegationManager"],
    "agent_auth.audit": ["AuditLog"],
    "agent_auth.expressions": ["ExpressionError", "compile_expression",
                               "evaluate", "tokenize", "Token"],
    "agent_auth.roles": ["resolve_role", "ResolvedRole"],
    "agent_auth.profiles": ["resolve_profile", "ResolvedProfile",
                            "check_action", "check_scope"],
    "agent_auth.approval": ["ApprovalEvaluator"],
    "agent_auth.a2a": ["A2AEvaluator"],
    "agent_auth.adapters.middleware": ["fastapi_auth_middleware",
                                       "flask_auth_decorator"],
    "agent_auth.adapters.guardrails": ["GuardrailsAuthAdapter"],
}


@pytest.mark.parametrize("module", sorted(SPEC))
def test_names(module):
    m = importlib.import_module(module)
    for name in SPEC[module]:
        assert hasattr(m, name), "%s.%s" % (module, name)


def test_top_level_reexports():
    import agent_auth
    from agent_auth import types
    for name in ("AuthRequest", "AuthDecision", "AuthEngine", "load_config",
                 "ConfigError", "Session", "DelegationGrant", "AuthConfig"):
        assert hasattr(agent_auth, name)
    assert agent_auth.AuthRequest is types.AuthRequest


def fields(cls):
    return [(f.name, f.default if f.default is not dataclasses.MISSING else
             (f.default_factory() if f.default_factory is not
              dataclasses.MISSING else "<required>"))
            for f in dataclasses.fields(cls)]


def test_dataclass_fields():
    from agent_auth import types as t
    R = "<required>"
    assert fields(t.AuthRequest) == [
        ("agent", R), ("user", R), ("action", R), ("resource", ""),
        ("session_id", None), ("scope", ""), ("target_agent", None),
        ("metadata", {})]
    assert fields(t.AuthDecision) == [
        ("allowed", R), ("tier", "autonomous"), ("reason", ""),
        ("requires_approval", False), ("approval_policy", ""),
        ("evaluation_time_ms", 0.0)]
    assert fields(t.Session) == [
        ("session_id", R), ("agent", R), ("user", R), ("scope", ""),
        ("created_at", ""), ("expires_at", ""), ("status", "active")]
    assert fields(t.DelegationGrant) == [
        ("delegation_id", R), ("from_user", R), ("to_agent", R),
        ("actions", []), ("granted_at", ""), ("expires_at", ""),
        ("reason", ""), ("status", "active")]
    assert fields(t.RoleConfig) == [("name", R), ("actions", []),
                                    ("extends", ""), ("description", "")]
    assert fields(t.AgentProfileConfig) == [
        ("name", R), ("role", ""), ("allow", []), ("deny", []),
        ("scopes", []), ("max_session_duration", 3600),
        ("default_tier", "autonomous"), ("description", "")]
    assert fields(t.ApprovalPolicyConfig) == [
        ("name", R), ("condition", ""), ("tier", "soft"), ("description", "")]
    assert fields(t.DelegationRuleConfig) == [
        ("name", R), ("allowed_actions", []), ("max_duration", 86400),
        ("require_reason", False), ("description", "")]
    assert fields(t.DelegationConfig) == [
        ("enabled", True), ("default_duration", 3600),
        ("max_duration", 86400), ("rules", [])]
    assert fields(t.A2APolicyConfig) == [
        ("name", R), ("from_agent", "*"), ("to_agent", "*"), ("action", "*"),
        ("effect", "allow"), ("condition", ""), ("description", "")]
    assert fields(t.A2AConfig) == [("default", "deny"), ("policies", [])]
    assert fields(t.SessionConfig) == [
        ("default_duration", 3600), ("max_duration", 86400),
        ("cleanup_interval", 300)]
    assert fields(t.AuditConfig)[:3] == [
        ("enabled", True), ("path", ".agent_auth/audit.jsonl"),
        ("retention_days", 90)]
    assert fields(t.AuthMetadata) == [("name", ""), ("description", ""),
                                      ("author", "")]


def test_enums_and_constants():
    from agent_auth import types as t
    assert [e.value for e in t.ApprovalTier] == ["autonomous", "soft",
                                                 "strong"]
    assert t.ApprovalTier.SOFT == "soft"
    assert [e.value for e in t.A2ADefault] == ["allow", "deny"]
    assert [e.value for e in t.SessionStatus] == ["active", "expired",
                                                  "revoked"]
    assert [e.value for e in t.DelegationStatus] == ["active", "expired",
                                                     "revoked"]
    assert t.VALID_TIERS == {"autonomous", "soft", "strong"}
    assert t.VALID_A2A_DEFAULTS == {"allow", "deny"}
    assert t.VALID_SESSION_STATUSES == {"active", "expired", "revoked"}
    assert t.VALID_DELEGATION_STATUSES == t.VALID_SESSION_STATUSES
    assert t.TIER_ORDER == {"autonomous": 0, "soft": 1, "strong": 2}


def test_signatures():
    import agent_auth as aa
    from agent_auth import expressions, profiles, roles
    from agent_auth.a2a import A2AEvaluator
    from agent_auth.approval import ApprovalEvaluator
    from agent_auth.adapters.guardrails import GuardrailsAuthAdapter
    from agent_auth.adapters.middleware import flask_auth_decorator

    def params(f):
        return [(p.name, p.default) for p in
                inspect.signature(f).parameters.values()
                if p.kind not in (p.VAR_KEYWORD,) and p.name != "self"]

    E = inspect.Parameter.empty
    assert params(aa.load_config)[0] == ("path", "agent_auth.yaml")
    assert params(aa.AuthEngine.__init__) == [
        ("config", E), ("user_permissions_provider", None)]
    assert params(aa.AuthEngine.create_session) == [
        ("agent", E), ("user", E), ("scope", ""), ("duration", None)]
    assert params(aa.AuthEngine.create_delegation) == [
        ("from_user", E), ("to_agent", E), ("actions", E), ("duration", None),
        ("reason", "")]
    assert inspect.iscoroutinefunction(aa.AuthEngine.authorize_async)
    assert params(aa.SessionManager.__init__) == [
        ("path", ".agent_auth/sessions.jsonl")]
    assert params(aa.SessionManager.create) == [
        ("agent", E), ("user", E), ("scope", ""), ("duration", 3600)]
    assert params(aa.SessionManager.list_active) == [("agent", None),
                                                     ("user", None)]
    assert params(aa.DelegationManager.__init__) == [
        ("config", None), ("path", ".agent_auth/delegations.jsonl")]
    assert params(aa.DelegationManager.create) == [
        ("from_user", E), ("to_agent", E), ("actions", E), ("duration", None),
        ("reason", "")]
    assert params(aa.AuditLog.__init__)[0] == ("path",
                                               ".agent_auth/audit.jsonl")
    # ours beyond it (where verify finds the state) are keyword-only
    extra = list(inspect.signature(aa.AuditLog.__init__).parameters.values())[2:]
    assert [p.name for p in extra] == ["config", "state"]
    assert all(p.kind == p.KEYWORD_ONLY for p in extra)
    assert params(aa.AuditLog.write) == [("request", E), ("decision", E),
                                         ("config", None)]
    read = params(aa.AuditLog.read)
    assert read[:6] == [("since", None), ("agent", None), ("user", None),
                        ("action", None), ("allowed", None), ("limit", 1000)]
    e = aa.ExpressionError("m", "s", 3)
    assert (e.message, e.source, e.pos) == ("m", "s", 3)
    assert params(expressions.evaluate) == [
        ("compiled", E), ("context", E), ("variables", None),
        ("matchers", None)]
    assert params(roles.resolve_role) == [("name", E), ("roles", E)]
    assert params(profiles.resolve_profile) == [("name", E), ("profiles", E),
                                                ("roles", E)]
    assert params(ApprovalEvaluator.evaluate) == [
        ("action", E), ("context", None), ("default_tier", "autonomous")]
    assert params(A2AEvaluator.evaluate) == [
        ("from_agent", E), ("to_agent", E), ("action", E), ("context", None)]
    assert params(flask_auth_decorator) == [
        ("engine", E), ("agent_header", "X-Agent-Name"),
        ("user_header", "X-User-Name"), ("session_header", "X-Session-Id")]
    assert params(GuardrailsAuthAdapter.__init__) == [
        ("auth_config", E), ("guardrails_engine", E),
        ("default_user", "system")]
    ce = aa.ConfigError(["a", "b"])
    assert ce.errors == ["a", "b"]


def test_docstrings_and_typing():
    import os
    import agent_auth as aa
    for obj in (aa.AuthEngine, aa.AuthEngine.authorize, aa.AuthEngine.explain,
                aa.AuthEngine.authorize_many, aa.load_config,
                aa.validate_config, aa.SessionManager, aa.DelegationManager,
                aa.AuditLog, aa.AuthRequest, aa.AuthDecision):
        assert obj.__doc__ and len(obj.__doc__) > 20, obj
    assert os.path.exists(os.path.join(os.path.dirname(aa.__file__),
                                       "py.typed"))
