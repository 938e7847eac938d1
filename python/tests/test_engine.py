"""AuthEngine: decisions, explain, authorize_many, reload, the one-shot
authorize, and the README's Python example."""
import dataclasses
import json

import pytest

import agent_auth as aa
from agent_auth import AuthRequest

from conftest import ENTERPRISE


def test_readme_example(minimal_file):
    config = aa.load_config(str(minimal_file))
    engine = aa.AuthEngine(config)
    d = engine.authorize(AuthRequest(agent="assistant", user="alice",
                                     action="read"))
    assert d.allowed is True
    assert d.is_autonomous is True
    assert d.is_denied is False
    d = engine.authorize(AuthRequest(agent="assistant", user="alice",
                                     action="delete"))
    assert not d.allowed  # delete is not an action of editor
    assert "not authorized for agent 'assistant'" in d.reason


def test_decision_fields(engine):
    d = engine.authorize(AuthRequest(
        agent="copilot", user="bob", action="deploy:api", resource="svc/api",
        scope="project:web", metadata={"env": "prod", "ticket": "OPS-1"}))
    assert type(d) is aa.AuthDecision
    assert [f.name for f in dataclasses.fields(d)] == [
        "allowed", "tier", "reason", "requires_approval", "approval_policy",
        "evaluation_time_ms"]
    assert d.allowed and d.tier == "strong" and d.requires_approval
    assert d.approval_policy == "production-deploy"
    assert d.reason == ("Allowed by profile 'copilot' (requires strong "
                        "approval)")
    assert not d.is_autonomous and not d.is_denied
    assert isinstance(d.evaluation_time_ms, float) and d.evaluation_time_ms >= 0
    # a decision is an ordinary dataclass: equal, mutable, repr
    d2 = dataclasses.replace(d)
    assert d2 == d
    d2.allowed = False
    assert d2.is_denied
    assert "AuthDecision(allowed=True" in repr(d)


@pytest.mark.parametrize("req,allowed,tier,reason", [
    (dict(agent="research-bot", user="carol", action="read:docs",
          scope="workspace:research"), True, "autonomous",
     "Allowed by profile 'research-bot'"),
    (dict(agent="research-bot", user="carol", action="write:docs",
          scope="workspace:research"), False, "autonomous",
     "Action 'write:docs' denied by profile 'research-bot'"),
    (dict(agent="orchestrator", user="dave", action="pay:invoice",
          target_agent="billing-agent", metadata={"amount": 50}), False,
     "autonomous", "Denied by A2A policy: Nobody may ask the billing agent"),
    (dict(agent="ghost-agent", user="eve", action="read:docs"), False,
     "autonomous", "Action 'read:docs' not authorized for agent 'ghost-agent'"),
    (dict(agent="copilot", user="bob", action="write:code",
          scope="cluster:prod"), False, "autonomous",
     "Scope 'cluster:prod' not allowed by profile 'copilot'"),
    (dict(agent="billing-agent", user="fin", action="pay:invoice",
          metadata={"amount": 20000}), True, "strong", "requires strong"),
    (dict(agent="billing-agent", user="fin", action="read:x"), True, "soft",
     "requires soft"),
])
def test_pipeline(engine, req, allowed, tier, reason):
    d = engine.authorize(AuthRequest(**req))
    assert d.allowed is allowed
    assert d.tier == tier
    assert reason in d.reason
    if not allowed:
        assert not d.requires_approval and d.approval_policy == ""


def test_hardened_metadata_never_overrides_fields(engine):
    # metadata.user cannot stand in for the request's user in a condition
    d = engine.authorize(AuthRequest(agent="copilot", user="bob",
                                     action="write:code", scope="repo:x",
                                     metadata={"user": "alice"}))
    assert d.tier == "soft" and d.approval_policy == "code-changes"


def test_missing_required_fields_deny(engine):
    for kw in (dict(agent="", user="u", action="read:x"),
               dict(agent="copilot", user="", action="read:x"),
               dict(agent="copilot", user="u", action="")):
        d = engine.authorize(AuthRequest(**kw))
        assert d.allowed is False
        assert "required" in d.reason


def test_explain(engine):
    req = AuthRequest(agent="copilot", user="bob", action="deploy:api",
                      scope="project:web", metadata={"env": "prod"})
    d = engine.explain(req)
    assert isinstance(d, aa.ExplainedDecision)
    assert isinstance(d, aa.AuthDecision)
    plain = engine.authorize(req)
    assert (d.allowed, d.tier, d.reason, d.approval_policy) == (
        plain.allowed, plain.tier, plain.reason, plain.approval_policy)
    steps = [t.step for t in d.trace]
    assert steps[0] == "profile" and "approval" in steps
    assert all(isinstance(t, aa.TraceStep) for t in d.trace)
    approval = [t for t in d.trace if t.step == "approval"]
    assert any("production-deploy" in t.detail for t in approval)
    assert "deploy:*" in d.explanation() or "deploy" in d.explanation()


def test_authorize_many_matches_authorize(engine):
    reqs = [
        AuthRequest(agent="research-bot", user="carol", action="read:docs",
                    scope="workspace:research"),
        AuthRequest(agent="copilot", user="bob", action="deploy:api",
                    scope="project:web", metadata={"env": "prod"}),
        AuthRequest(agent="ghost", user="eve", action="read:docs"),
        AuthRequest(agent="orchestrator", user="dave", action="read:plan",
                    target_agent="research-bot"),
    ] * 5
    many = engine.authorize_many(reqs)
    assert len(many) == len(reqs)
    for r, d in zip(reqs, many):
        one = engine.authorize(r)
        assert (d.allowed, d.tier, d.reason, d.requires_approval,
                d.approval_policy) == (one.allowed, one.tier, one.reason,
                                       one.requires_approval,
                                       one.approval_policy)
    assert engine.authorize_many([]) == []
    assert engine.authorize_many(tuple(reqs[:2]))[0].allowed


def test_authorize_many_bad_request_names_index(engine):
    reqs = [AuthRequest(agent="a", user="u", action="x"),
            AuthRequest(agent="a", user=5, action="x")]
    with pytest.raises(TypeError, match=r"requests\[1\]: user must be a str"):
        engine.authorize_many(reqs)
    with pytest.raises(TypeError):
        engine.authorize_many(None)


def test_config_changed_in_python_is_what_the_engine_uses(enterprise, tmp):
    enterprise.profiles["research-bot"].deny.append("read:secret*")
    enterprise.audit.path = str(tmp / "elsewhere" / "log.jsonl")
    engine = aa.AuthEngine(enterprise)
    d = engine.authorize(AuthRequest(agent="research-bot", user="c",
                                     action="read:secrets"))
    assert not d.allowed and "denied by profile" in d.reason
    assert (tmp / "elsewhere" / "log.jsonl").exists()
    assert (tmp / "elsewhere" / "state.db").exists()
    assert engine.config is enterprise


def test_config_built_in_python(tmp):
    config = aa.AuthConfig(
        roles={"viewer": aa.RoleConfig(name="viewer", actions=["read:*"])},
        profiles={"bot": aa.AgentProfileConfig(name="bot", role="viewer")},
        approval_policies=[aa.ApprovalPolicyConfig(
            name="big", condition="amount > 10", tier="strong")],
        audit=aa.AuditConfig(enabled=False, path=str(tmp / "a.jsonl")))
    engine = aa.AuthEngine(config)
    d = engine.authorize(AuthRequest(agent="bot", user="u", action="read:x",
                                     metadata={"amount": 11}))
    assert d.allowed and d.tier == "strong" and d.approval_policy == "big"
    assert not (tmp / "a.jsonl").exists()


def test_invalid_config_object_raises_config_error(enterprise):
    enterprise.approval_policies[0].condition = "action =="
    with pytest.raises(aa.ConfigError) as e:
        aa.AuthEngine(enterprise)
    assert any("production-deploy" in m or "operand" in m
               for m in e.value.errors)


def test_reload(enterprise):
    engine = aa.AuthEngine(enterprise)
    req = AuthRequest(agent="ghost", user="u", action="read:x")
    assert not engine.authorize(req).allowed
    enterprise.profiles["ghost"] = aa.AgentProfileConfig(name="ghost",
                                                         allow=["read:*"])
    engine.reload()
    assert engine.authorize(req).allowed
    bad = aa.AuthConfig(version="2.0")
    with pytest.raises(aa.ConfigError):
        engine.reload(bad)
    assert engine.authorize(req).allowed  # the old policy stays


def test_one_shot_authorize(minimal_file):
    config = aa.load_config(minimal_file)
    d = aa.authorize(config, AuthRequest(agent="assistant", user="a",
                                         action="write"))
    assert d.allowed


def test_user_permissions_provider(enterprise):
    class Provider:
        def get_user_actions(self, user):
            return {"send:email"} if user == "bob" else set()

    assert isinstance(Provider(), aa.UserPermissionsProvider)
    for provider in (Provider(), Provider().get_user_actions):
        engine = aa.AuthEngine(enterprise, provider)
        ok = engine.authorize(AuthRequest(agent="copilot", user="bob",
                                          action="send:email"))
        assert ok.allowed and ok.reason == "Allowed by user permissions"
        no = engine.authorize(AuthRequest(agent="copilot", user="eve",
                                          action="send:email"))
        assert not no.allowed


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_user_permissions_provider_error_fails_closed(enterprise):
    def boom(user):
        raise RuntimeError("directory down")

    engine = aa.AuthEngine(enterprise, boom)
    d = engine.authorize(AuthRequest(agent="copilot", user="bob",
                                     action="send:email"))
    assert not d.allowed
    with pytest.raises(TypeError):
        aa.AuthEngine(enterprise, 42)


def test_provider_that_decides_again(enterprise):
    """A provider that itself calls authorize (nested on one thread)."""
    holder = {}

    def provider(user):
        inner = holder["engine"].authorize(
            AuthRequest(agent="research-bot", user=user, action="read:x"))
        return {"send:email"} if inner.allowed else set()

    engine = aa.AuthEngine(enterprise, provider)
    holder["engine"] = engine
    d = engine.authorize(AuthRequest(agent="copilot", user="bob",
                                     action="send:email", scope="repo:x"))
    assert d.allowed and d.reason == "Allowed by user permissions"


def test_version():
    import re
    assert re.fullmatch(r"\d+\.\d+\.\d+", aa.__version__)
    assert aa.__version__ == aa._core.version()


def test_engine_is_not_a_config():
    with pytest.raises(TypeError):
        aa.AuthEngine({"version": "1.0"})
