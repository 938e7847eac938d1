"""docs/walkthrough.md, ported to Python: the same steps and answers."""
import agent_auth as aa
from agent_auth import AuthRequest

from conftest import ENTERPRISE


def check(engine, **kw):
    return engine.authorize(AuthRequest(**kw))


def test_walkthrough(tmp):
    # 1. version; 2. validate; 3. inspect
    assert aa.__version__
    config = aa.load_config(ENTERPRISE)
    assert (len(config.roles), len(config.profiles),
            len(config.approval_policies), len(config.a2a.policies)) == (4, 4, 4, 3)
    assert config.roles["engineer"].extends == "contributor"
    from agent_auth.roles import resolve_role
    assert resolve_role("engineer", config.roles).chain == [
        "engineer", "contributor", "viewer"]
    config.audit.path = str(tmp / ".agent_auth" / "audit.jsonl")
    engine = aa.AuthEngine(config)

    # 4. an allowed request
    d = check(engine, agent="copilot", user="alice", action="read:documents",
              scope="project:apollo")
    assert d.allowed and d.reason == "Allowed by profile 'copilot'"
    assert d.tier == "autonomous"
    # 5. denied requests
    d = check(engine, agent="research-bot", user="alice",
              action="write:documents")
    assert d.reason == "Action 'write:documents' denied by profile 'research-bot'"
    d = check(engine, agent="intruder", user="alice", action="read:documents")
    assert d.reason == "Action 'read:documents' not authorized for agent 'intruder'"
    # 6. approval tiers from metadata
    d = check(engine, agent="copilot", user="alice", action="deploy:web",
              metadata={"env": "prod"})
    assert d.tier == "strong" and d.approval_policy == "production-deploy"
    d = check(engine, agent="copilot", user="alice", action="deploy:web",
              metadata={"env": "staging"})
    assert d.is_autonomous
    # 7. JSON-ish output: amount is a number
    d = check(engine, agent="billing-agent", user="carol",
              action="pay:invoice", metadata={"amount": 25000})
    assert d.tier == "strong" and d.approval_policy == "large-payment"
    # 8. resources and scopes
    d = check(engine, agent="copilot", user="bob", action="write:code",
              resource="src/main.c", scope="repo:web")
    assert d.allowed and d.tier == "soft" and d.approval_policy == "code-changes"
    d = check(engine, agent="copilot", user="alice", action="read:code",
              scope="workspace:research")
    assert d.reason == "Scope 'workspace:research' not allowed by profile 'copilot'"
    # 9. agent-to-agent
    assert check(engine, agent="orchestrator", user="alice",
                 action="read:reports", target_agent="research-bot").allowed
    d = check(engine, agent="orchestrator", user="alice", action="pay:invoice",
              target_agent="billing-agent")
    assert d.reason.startswith("Denied by A2A policy: Nobody may ask")
    d = check(engine, agent="research-bot", user="alice",
              action="read:papers", target_agent="copilot")
    assert d.reason == "Denied by default A2A policy"
    # 10. explain
    e = engine.explain(AuthRequest(agent="copilot", user="bob",
                                   action="write:code"))
    assert any(t.step == "allow" and "write:code" in t.detail for t in e.trace)
    # 11. many requests at once
    many = engine.authorize_many([
        AuthRequest(agent="copilot", user="alice", action="read:x"),
        AuthRequest(agent="intruder", user="alice", action="read:x")])
    assert [d.allowed for d in many] == [True, False]
    # 12-13. sessions
    s = engine.create_session("copilot", "alice", scope="project:*")
    assert s.status == "active" and s.scope == "project:*"
    d = check(engine, agent="copilot", user="alice", action="read:code",
              scope="project:apollo", session_id=s.session_id)
    assert d.allowed
    d = check(engine, agent="copilot", user="alice", action="read:code",
              scope="repo:web", session_id=s.session_id)
    assert d.reason == "Scope 'repo:web' is outside session scope 'project:*'"
    d = check(engine, agent="research-bot", user="alice", action="read:code",
              session_id=s.session_id)
    assert d.reason.startswith("Session agent mismatch")
    # 14-15. list and revoke
    assert [x.session_id for x in engine.list_sessions()] == [s.session_id]
    assert engine.revoke_session(s.session_id) is True
    d = check(engine, agent="copilot", user="alice", action="read:code",
              session_id=s.session_id)
    assert "Invalid or expired session" in d.reason
    assert engine.revoke_session(s.session_id) is False
    # 16-18. delegation
    req = AuthRequest(agent="research-bot", user="alice",
                      action="deploy:docs-site")
    assert not engine.authorize(req).allowed
    g = engine.create_delegation("alice", "research-bot", ["deploy:docs-site"],
                                 duration=1800, reason="docs release")
    try:
        engine.create_delegation("alice", "research-bot", ["write:documents"],
                                 duration=7200)
        raise AssertionError("refused delegation was made")
    except ValueError as e:
        msg = str(e)
        assert "not allowed by delegation rule 'temporary-deploys'" in msg
        assert "requires a reason" in msg
    d = engine.authorize(req)
    assert d.allowed and d.reason == "Delegated by user 'alice'"
    d = check(engine, agent="research-bot", user="bob",
              action="deploy:docs-site")
    assert not d.allowed  # hardened: a grant acts only for its own user
    assert [x.delegation_id for x in engine.list_delegations()] == [g.delegation_id]
    assert engine.revoke_delegation(g.delegation_id)
    assert not engine.authorize(req).allowed
    assert engine.list_delegations() == []
    # 20. the audit log
    log = aa.AuditLog(config.audit.path)
    entries = log.read(agent="research-bot")
    assert entries and all(e["agent"] == "research-bot" for e in entries)
    events = log.read(events="delegation.create")
    assert len(events) == 1 and events[0]["event"] == "delegation.create"
    assert log.verify()
