"""AuditLog and the engine's audit lines; fail closed when unwritable."""
import json
import os

import pytest

import agent_auth as aa
from agent_auth import AuthRequest


def test_engine_writes_lines(engine, enterprise):
    engine.authorize(AuthRequest(agent="copilot", user="bob", action="read:x",
                                 metadata={"k": "v"}))
    engine.authorize(AuthRequest(agent="ghost", user="eve", action="read:x"))
    log = aa.AuditLog(enterprise.audit.path)
    import pathlib
    assert isinstance(log.path, pathlib.Path)
    entries = log.read()
    assert [e["allowed"] for e in entries] == [True, False]
    e = entries[0]
    for key in ("timestamp", "event_id", "agent", "user", "action", "resource",
                "allowed", "tier", "reason", "requires_approval",
                "approval_policy", "session_id", "scope", "target_agent",
                "evaluation_time_ms", "config_name", "config_version",
                "prev_hash", "hash"):
        assert key in e, key
    assert e["config_name"] == "acme-enterprise"
    assert log.read(allowed=False)[0]["agent"] == "ghost"
    assert log.read(agent="copilot", limit=5)[0]["user"] == "bob"
    assert log.read(user="nobody") == []
    assert log.read(action="read:x", limit=1) == entries[:1]
    assert len(log.read(since="2000-01-01")) == 2
    assert log.read(since="2999-01-01") == []
    assert log.verify()
    assert os.stat(enterprise.audit.path).st_mode & 0o077 == 0


def test_write_read_clear(tmp):
    log = aa.AuditLog(tmp / "logs" / "audit.jsonl")
    req = AuthRequest(agent="bot", user="alice", action="read",
                      metadata={"a": [1, "b"]})
    dec = aa.AuthDecision(allowed=True, tier="soft", reason="ok",
                          requires_approval=True, approval_policy="p")
    cfg = aa.AuthConfig(metadata=aa.AuthMetadata(name="mine"))
    log.write(req, dec, cfg)
    log.write(req, aa.AuthDecision(allowed=False, reason="no"))
    got = log.read()
    assert len(got) == 2
    assert got[0]["tier"] == "soft" and got[0]["config_name"] == "mine"
    assert got[0]["approval_policy"] == "p" and got[1]["allowed"] is False
    assert log.verify()
    with pytest.raises(ValueError):
        log.write(req, aa.AuthDecision(allowed=True, tier="urgent"))
    with pytest.raises(TypeError):
        log.write(AuthRequest(agent=1, user="u", action="a"), dec)
    log.clear()
    assert log.read() == []
    log.clear()  # twice is fine


def test_tampering_is_detected(tmp):
    log = aa.AuditLog(tmp / "a.jsonl")
    req = AuthRequest(agent="bot", user="alice", action="read")
    for _ in range(3):
        log.write(req, aa.AuthDecision(allowed=True))
    lines = log.path.read_text().splitlines()
    lines[1] = lines[1].replace('"allowed":true', '"allowed":false')
    log.path.write_text("\n".join(lines) + "\n")
    assert log.verify() is False
    assert log.last_verify["bad_line"] == 2


def test_events(engine, enterprise):
    s = engine.create_session("copilot", "alice")
    engine.revoke_session(s.session_id)
    log = aa.AuditLog(enterprise.audit.path)
    assert log.read() == []  # decision entries only by default
    kinds = [e["event"] for e in log.read(events=True)]
    assert kinds == ["session.create", "session.revoke"]


def test_malformed_lines_skipped(tmp):
    log = aa.AuditLog(tmp / "a.jsonl")
    log.write(AuthRequest(agent="b", user="u", action="x"),
              aa.AuthDecision(allowed=True))
    with open(log.path, "a") as f:
        f.write("{not json\n")
    log.write(AuthRequest(agent="b", user="u", action="y"),
              aa.AuthDecision(allowed=True))
    assert [e["action"] for e in log.read()] == ["x", "y"]


def test_audit_unwritable_fails_closed(enterprise, tmp):
    """audit.on_failure: deny - a decision whose line cannot be written is a
    denial saying so."""
    engine = aa.AuthEngine(enterprise)
    req = AuthRequest(agent="copilot", user="bob", action="read:x")
    assert engine.authorize(req).allowed
    path = enterprise.audit.path
    os.unlink(path)
    os.mkdir(path)  # the log path is now a directory
    d = engine.authorize(req)
    assert not d.allowed
    assert "audit" in d.reason.lower()


def test_audit_disabled_writes_nothing(enterprise, tmp):
    enterprise.audit.enabled = False
    engine = aa.AuthEngine(enterprise)
    assert engine.authorize(AuthRequest(agent="copilot", user="b",
                                        action="read:x")).allowed
    assert not os.path.exists(enterprise.audit.path)


def test_authorize_many_lines_in_request_order(engine, enterprise):
    """authorize_many writes its decisions' lines in groups (one lock and
    one write each): one line per request, in request order, chained."""
    reqs = [AuthRequest(agent="copilot", user="bob", action="read:x",
                        resource="r%d" % i) for i in range(300)]
    assert all(d.allowed for d in engine.authorize_many(reqs))
    log = aa.AuditLog(enterprise.audit.path)
    entries = log.read(limit=1000)
    assert [e["resource"] for e in entries] == ["r%d" % i for i in range(300)]
    assert log.verify()


def test_authorize_many_from_threads_one_chain(engine, enterprise):
    import threading

    def work(t):
        for k in range(5):
            reqs = [AuthRequest(agent="copilot", user="bob", action="read:x",
                                resource="t%d-%d-%d" % (t, k, i))
                    for i in range(50)]
            assert all(d.allowed for d in engine.authorize_many(reqs))

    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    entries = aa.AuditLog(enterprise.audit.path).read(limit=5000)
    got = sorted(e["resource"] for e in entries)
    assert got == sorted("t%d-%d-%d" % (t, k, i) for t in range(4)
                         for k in range(5) for i in range(50))
    assert aa.AuditLog(enterprise.audit.path).verify()


def test_authorize_many_unwritable_denies_every_decision(enterprise, tmp):
    engine = aa.AuthEngine(enterprise)
    req = AuthRequest(agent="copilot", user="bob", action="read:x")
    assert engine.authorize(req).allowed
    path = enterprise.audit.path
    os.unlink(path)
    os.mkdir(path)  # the log path is now a directory
    ds = engine.authorize_many([req] * 100)
    assert len(ds) == 100
    for d in ds:
        assert not d.allowed
        assert d.reason.startswith("Audit log unavailable")
