"""Sessions and delegations: through the engine and the managers."""
import multiprocessing
import re

import pytest

import agent_auth as aa
from agent_auth import AuthRequest
from agent_auth.delegation import DelegationManager
from agent_auth.sessions import SessionManager

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                   r"[0-9a-f]{12}")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")


def test_session_fields_and_clamping(engine):
    s = engine.create_session("copilot", "alice")
    assert isinstance(s, aa.Session)
    assert UUID4.fullmatch(s.session_id)
    assert ISO.fullmatch(s.created_at) and ISO.fullmatch(s.expires_at)
    assert s.status == "active" and s.scope == ""
    # copilot's max_session_duration is 1800: clamped (hardened)
    s = engine.create_session("copilot", "alice", duration=999999)
    from agent_auth import _core
    span = (_core.parse_time(s.expires_at) - _core.parse_time(s.created_at))
    assert span == 1800 * 10 ** 6
    assert engine.validate_session(s.session_id) == s


def test_session_errors(engine):
    with pytest.raises(ValueError, match="at least 1"):
        engine.create_session("copilot", "alice", duration=0)
    with pytest.raises(ValueError):
        engine.create_session("copilot", "alice", scope="cluster:prod")
    with pytest.raises(TypeError):
        engine.create_session("copilot", "alice", duration="1h")
    with pytest.raises(TypeError):
        engine.create_session(None, "alice")
    assert engine.revoke_session("nope") is False
    assert engine.validate_session("nope") is None


def test_session_user_mismatch(engine):
    s = engine.create_session("copilot", "alice")
    d = engine.authorize(AuthRequest(agent="copilot", user="bob",
                                     action="read:x", session_id=s.session_id))
    assert not d.allowed and "Session user mismatch" in d.reason


def test_state_outlives_the_engine(enterprise):
    s = aa.AuthEngine(enterprise).create_session("copilot", "alice")
    other = aa.AuthEngine(enterprise)
    assert other.validate_session(s.session_id) is not None
    assert other.list_sessions(agent="copilot", user="alice")[0] == s
    assert other.list_sessions(agent="nobody") == []


def _make_session(path, q):
    sm = SessionManager(path)
    q.put(sm.create("bot", "u").session_id)


def test_session_manager(tmp):
    path = str(tmp / "state" / "sessions.jsonl")
    sm = SessionManager(path)
    s = sm.create("bot", "alice", scope="x:*", duration=60)
    assert sm.validate(s.session_id) == s
    assert [x.session_id for x in sm.list_active(agent="bot")] == [s.session_id]
    assert sm.list_active(user="bob") == []
    assert sm.revoke(s.session_id) is True
    assert sm.validate(s.session_id) is None
    assert sm.revoke(s.session_id) is False
    assert sm.expire_stale() == 0
    with pytest.raises(ValueError):
        sm.create("bot", "alice", duration=-5)
    # another process sees the same store
    q = multiprocessing.get_context("spawn").Queue()
    p = multiprocessing.get_context("spawn").Process(target=_make_session,
                                                     args=(path, q))
    p.start()
    sid = q.get(timeout=30)
    p.join(30)
    assert sm.validate(sid) is not None


def test_session_expiry(tmp):
    import time
    sm = SessionManager(str(tmp / "s.db"))
    s = sm.create("bot", "alice", duration=1)
    time.sleep(1.2)
    assert sm.validate(s.session_id) is None
    assert sm.list_active() == []


def test_delegation_manager(tmp, enterprise):
    dm = DelegationManager(enterprise.delegation, str(tmp / "d.jsonl"))
    assert dm.validate_rule(["deploy:web"], 600, "why") == []
    assert dm.validate_rule(["deploy:web"], 600, "") == [
        "Delegation rule 'finance-approvals' requires a reason"]
    errors = dm.validate_rule(["write:docs"], 99999, "")
    assert "Duration 99999s exceeds maximum 86400s" in errors
    assert any("requires a reason" in e for e in errors)
    assert dm.validate_rule([], 60, "r")  # hardened: empty list refused
    assert dm.validate_rule(["deploy:*"], 0, "r")  # duration < 1
    g = dm.create("alice", "bot", ["deploy:web", "run:*"], 600, "release")
    assert isinstance(g, aa.DelegationGrant) and UUID4.fullmatch(g.delegation_id)
    assert g.actions == ["deploy:web", "run:*"] and g.reason == "release"
    assert dm.check("bot", "run:tests") == g
    assert dm.check("bot", "deploy:api") is None
    assert dm.check("bot", "run:tests", user="bob") is None
    assert dm.check("other", "run:tests") is None
    with pytest.raises(ValueError, match="temporary-deploys"):
        dm.create("alice", "bot", ["pay:*"], 600)
    assert dm.list_active("bot") == [g]
    assert dm.list_active("nobody") == []
    assert dm.revoke(g.delegation_id) is True
    assert dm.revoke(g.delegation_id) is False
    assert dm.check("bot", "run:tests") is None
    assert dm.expire_stale() == 0


def test_delegation_disabled(tmp):
    dm = DelegationManager(aa.DelegationConfig(enabled=False),
                           str(tmp / "d.db"))
    assert dm.validate_rule(["x"], 60, "") != []
    with pytest.raises(ValueError):
        dm.create("alice", "bot", ["x"], 60)
    assert DelegationManager(path=str(tmp / "e.db")).validate_rule(["x"], 60) == []


def test_delegation_from_engine_bound_to_user(engine):
    g = engine.create_delegation("alice", "research-bot", ["deploy:docs"],
                                 reason="r")
    assert g.from_user == "alice" and g.to_agent == "research-bot"
    ok = engine.authorize(AuthRequest(agent="research-bot", user="alice",
                                      action="deploy:docs"))
    assert ok.allowed and ok.reason == "Delegated by user 'alice'"
    no = engine.authorize(AuthRequest(agent="research-bot", user="bob",
                                      action="deploy:docs"))
    assert not no.allowed
    with pytest.raises(TypeError):
        engine.create_delegation("alice", "bot", "deploy:x")
    assert engine.revoke_delegation("missing") is False


def test_cleanup(engine):
    assert engine.cleanup() == 0


def test_unwritable_state_is_a_state_error(enterprise, tmp):
    d = tmp / "state.db"
    d.mkdir()  # not a regular file: refused
    enterprise.state.path = str(d)
    with pytest.raises(aa.AgentAuthError) as e:
        aa.AuthEngine(enterprise)
    assert isinstance(e.value, aa.StateError)
