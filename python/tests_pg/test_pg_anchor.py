"""AuditLog.verify() with a PostgreSQL state: the audit chain head the
engine recorded in the database (audit anchoring, docs/state.md) is
checked, as ``agent-auth audit --verify`` checks it, so a log cut short
fails naming the truncation. With a SQLite state nothing changes.

Run by ctest as python.pytest.postgresql, through tests/pg/run.sh (which
sets AA_PG_URL, AA_PG_BIN and AA_PG_DIR for the private
test cluster); without them the module fails to load, it is never
skipped."""
import gc
import os
import pathlib
import subprocess

import pytest

import agent_auth as aa
from agent_auth import AuthRequest

PG_URL = os.environ["AA_PG_URL"]
PG_BIN = os.environ["AA_PG_BIN"]
SRC = pathlib.Path(os.environ.get("AA_SOURCE_DIR",
                                  pathlib.Path(__file__).resolve().parents[2]))
ENTERPRISE = SRC / "examples" / "policies" / "enterprise.yaml"
SCHEMA = "py_anchor_%d" % os.getpid()
TRUNCATED = "truncated: the file has 4 lines, but the state store recorded 6"


# psql and pg_ctl run without the sanitizer runtime that the ASan suite
# preloads into the interpreter (python/tests/run.sh): under it they can
# hang at exit in a library destructor (p11-kit's freelocale), which is
# theirs, not ours.
PG_TOOLS_ENV = {k: v for k, v in os.environ.items()
            if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}


def psql(sql):
    return subprocess.run([os.path.join(PG_BIN, "psql"), "-qAt", "-d", PG_URL,
                           "-c", sql], check=True, capture_output=True,
                          text=True, env=PG_TOOLS_ENV, timeout=60).stdout.strip()


@pytest.fixture
def tmp(tmp_path, monkeypatch):
    os.chmod(tmp_path, 0o700)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENT_AUTH_STATE_URL", PG_URL)
    monkeypatch.setenv("AGENT_AUTH_STATE_SCHEMA", SCHEMA)
    yield tmp_path
    psql("SET client_min_messages = warning; "
         "DROP SCHEMA IF EXISTS %s CASCADE" % SCHEMA)


def decide(config, n):
    """n decisions by an engine over config, closed afterwards (an engine
    records its last head as it closes)."""
    engine = aa.AuthEngine(config)
    for _ in range(n):
        d = engine.authorize(AuthRequest(agent="research-bot", user="alice",
                                         action="read:docs"))
        assert d.allowed, d.reason
    del engine
    gc.collect()


def enterprise(tmp):
    config = aa.load_config(ENTERPRISE)
    config.audit.path = str(tmp / "audit" / "audit.jsonl")
    return config


def test_truncated_tail_fails(tmp):
    config = enterprise(tmp)
    decide(config, 6)
    assert psql("SELECT lines FROM %s.audit_anchors" % SCHEMA) == "6"
    log = aa.AuditLog(config.audit.path)
    assert log.verify() is True, log.last_verify
    assert log.last_verify["lines"] == 6
    full = log.path.read_text()
    log.path.write_text("".join(full.splitlines(True)[:4]))
    assert log.verify() is False
    assert log.last_verify["lines"] == 4
    assert any(TRUNCATED in m for m in log.last_verify["messages"]), \
        log.last_verify
    assert log.last_verify["recorded"]["lines"] == 6
    # the same through the config the engine was built from
    assert aa.AuditLog(config.audit.path, config=config).verify() is False
    log.path.write_text(full)
    assert log.verify() is True, log.last_verify


def test_head_deleted_fails(tmp):
    config = enterprise(tmp)
    decide(config, 6)
    log = aa.AuditLog(config.audit.path)
    full = log.path.read_text()
    log.path.write_text("".join(full.splitlines(True)[2:]))
    assert log.verify() is False
    assert any("head deleted or log replaced" in m
               for m in log.last_verify["messages"]), log.last_verify


def test_state_named_explicitly(tmp, monkeypatch):
    config = enterprise(tmp)
    decide(config, 6)
    monkeypatch.delenv("AGENT_AUTH_STATE_URL")
    path = config.audit.path
    full = pathlib.Path(path).read_text()
    pathlib.Path(path).write_text("".join(full.splitlines(True)[:4]))
    # no PostgreSQL state known: the file alone, which cannot tell
    assert aa.AuditLog(path).verify() is True
    log = aa.AuditLog(path, state=PG_URL)
    assert log.verify() is False
    assert any(TRUNCATED in m for m in log.last_verify["messages"])


def test_require_anchor(tmp):
    log = aa.AuditLog(tmp / "other.jsonl")
    log.write(AuthRequest(agent="bot", user="alice", action="read"),
              aa.AuthDecision(allowed=True))
    assert log.verify() is True  # no record: passes, and says so
    assert log.last_verify["recorded"] is None
    assert log.verify(require_anchor=True) is False
    assert any("no head recorded" in m for m in log.last_verify["messages"])


def test_database_down_raises(tmp):
    config = enterprise(tmp)
    decide(config, 2)
    cluster = str(SRC / "tests" / "pg" / "cluster.sh")
    subprocess.run(["bash", cluster, "stop", os.environ["AA_PG_DIR"]],
                   check=True, env=PG_TOOLS_ENV, timeout=120)
    try:
        with pytest.raises(aa.StateError, match="State store unavailable"):
            aa.AuditLog(config.audit.path).verify()
    finally:
        subprocess.run(["bash", cluster, "start", os.environ["AA_PG_DIR"]],
                       check=True, env=PG_TOOLS_ENV, timeout=120)
    assert aa.AuditLog(config.audit.path).verify() is True


def test_sqlite_state_changes_nothing(tmp, monkeypatch):
    monkeypatch.delenv("AGENT_AUTH_STATE_URL")
    config = enterprise(tmp)
    decide(config, 6)
    log = aa.AuditLog(config.audit.path, config=config)
    assert log.verify() is True
    assert log.last_verify["recorded"] is None
    full = log.path.read_text()
    log.path.write_text("".join(full.splitlines(True)[:4]))
    assert log.verify() is True and log.last_verify["lines"] == 4
    lines = full.splitlines(True)
    lines[2] = lines[2].replace('"alice"', '"mallory"')
    log.path.write_text("".join(lines))
    assert log.verify() is False and log.last_verify["bad_line"] == 3
    # require_anchor, like --require-anchor, is for a PostgreSQL state
    log.path.write_text(full)
    assert log.verify(require_anchor=True) is True
