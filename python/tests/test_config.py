"""load_config, validate_config, ConfigError positions, dataclasses."""
import dataclasses
import os

import pytest

import agent_auth as aa
from agent_auth.config import config_to_dict

from conftest import ENTERPRISE, write


def test_load_enterprise():
    c = aa.load_config(ENTERPRISE)
    assert isinstance(c, aa.AuthConfig)
    assert c.version == "1.0"
    assert c.metadata == aa.AuthMetadata(
        name="acme-enterprise",
        description="Agents of the Acme engineering and finance teams",
        author="platform-security@acme.example")
    assert c.variables["finance_limit"] == 10000
    assert c.roles["contributor"] == aa.RoleConfig(
        name="contributor", actions=["write:documents", "comment:*"],
        extends="viewer",
        description="Can write documents and comment on tickets")
    p = c.profiles["copilot"]
    assert (p.role, p.deny, p.scopes, p.max_session_duration,
            p.default_tier) == ("engineer", ["deploy:prod-db", "delete:*"],
                                ["project:*", "repo:*"], 1800, "autonomous")
    assert c.profiles["billing-agent"].default_tier == "soft"
    assert [a.name for a in c.approval_policies] == [
        "production-deploy", "large-payment", "refunds", "code-changes"]
    assert c.delegation.rules[1].require_reason is True
    assert c.a2a.default == "deny" and c.a2a.policies[1].effect == "deny"
    assert c.sessions == aa.SessionConfig(3600, 28800, 300)
    assert c.audit.fsync == "never" and c.audit.on_failure == "deny"
    assert c.state.path == ""  # beside the audit log


def test_defaults(tmp):
    c = aa.load_config(write(tmp, 'version: "1.0"\n'))
    assert c.delegation == aa.DelegationConfig()
    assert c.a2a == aa.A2AConfig()
    assert c.audit == aa.AuditConfig()
    assert c.sessions == aa.SessionConfig()


def test_missing_file(tmp):
    with pytest.raises(FileNotFoundError):
        aa.load_config(tmp / "nope.yaml")
    os.chdir(tmp)
    with pytest.raises(FileNotFoundError):
        aa.load_config()


def test_default_path(tmp, minimal_file):
    assert "assistant" in aa.load_config().profiles


def test_errors_have_positions(tmp):
    p = write(tmp, """\
        version: "1.0"
        roles:
          viewer:
            actions: read
        profiles:
          bot:
            role: nobody
            max_session_duration: "1h"
        approval_policies:
          - name: x
            condition: 'action == '
            tier: urgent
        """)
    with pytest.raises(aa.ConfigError) as e:
        aa.load_config(p)
    errors = e.value.errors
    assert len(errors) >= 4
    assert all(m.startswith(str(p) + ":") for m in errors)
    text = "\n".join(errors)
    assert ":4:" in text  # actions: read (a string where a list belongs)
    assert "nobody" in text and "urgent" in text
    assert isinstance(e.value, aa.AgentAuthError)
    assert "Invalid configuration" in str(e.value)


def test_strict_and_warnings(tmp):
    p = write(tmp, """\
        version: "1.0"
        profiles:
          bot:
            deny_list: [x]
        """)
    c = aa.load_config(p)
    assert any("deny_list" in w for w in c._warnings)
    with pytest.raises(aa.ConfigError):
        aa.load_config(p, strict=True)


def test_undefined_variable_is_an_error(tmp):
    p = write(tmp, """\
        version: "1.0"
        approval_policies:
          - name: x
            condition: 'amount > $limit'
        """)
    with pytest.raises(aa.ConfigError, match="limit"):
        aa.load_config(p)


def test_environment_interpolation(tmp, monkeypatch):
    monkeypatch.setenv("AA_TEST_AUDIT", str(tmp / "env-audit.jsonl"))
    p = write(tmp, """\
        version: "1.0"
        audit:
          path: ${AA_TEST_AUDIT}
        """)
    c = aa.load_config(p)
    assert c.audit.path == str(tmp / "env-audit.jsonl")
    monkeypatch.setenv("AA_TEST_AUDIT", "changed")
    e = aa.AuthEngine(c)  # not interpolated a second time
    assert e.config.audit.path == str(tmp / "env-audit.jsonl")


def test_validate_config():
    c = aa.load_config(ENTERPRISE)
    assert aa.validate_config(c) == []
    c.roles["viewer"].extends = "ghost"
    c.profiles["copilot"].default_tier = "urgent"
    c.approval_policies[0].condition = "amount > $nope"
    c.sessions.default_duration = 0
    errors = aa.validate_config(c)
    assert len(errors) >= 4
    assert any("ghost" in e for e in errors)
    assert any("urgent" in e for e in errors)
    assert any("nope" in e for e in errors)
    built = aa.AuthConfig(profiles={"b": aa.AgentProfileConfig(name="b",
                                                               role="r")})
    assert any("'r'" in e for e in aa.validate_config(built))
    assert aa.validate_config(aa.AuthConfig()) == []
    bad_type = aa.AuthConfig(variables={"x": object()})
    assert aa.validate_config(bad_type)
    assert "AuthConfig" in aa.validate_config({"version": "1.0"})[0]


def test_round_trip_is_identical():
    c = aa.load_config(ENTERPRISE)
    from agent_auth.config import _policy_of
    import json
    again = aa.config._from_description(json.loads(_policy_of(c).describe()))
    assert again == c


def test_config_dataclasses_are_mutable_with_defaults():
    for cls, required in [(aa.RoleConfig, 1), (aa.AgentProfileConfig, 1),
                          (aa.ApprovalPolicyConfig, 1),
                          (aa.DelegationRuleConfig, 1),
                          (aa.A2APolicyConfig, 1), (aa.DelegationConfig, 0),
                          (aa.A2AConfig, 0), (aa.SessionConfig, 0),
                          (aa.AuditConfig, 0), (aa.AuthMetadata, 0),
                          (aa.AuthConfig, 0)]:
        obj = cls(*["n"] * required)
        f = dataclasses.fields(obj)[0]
        setattr(obj, f.name, getattr(obj, f.name))
    assert [f.name for f in dataclasses.fields(aa.AuthConfig)][:11] == [
        "version", "metadata", "variables", "roles", "profiles",
        "approval_policies", "delegation", "a2a", "sessions", "audit",
        "state"]
    d = config_to_dict(aa.AuthConfig())
    assert d["version"] == "1.0"


def test_invalid_text_in_a_config_object():
    c = aa.AuthConfig(metadata=aa.AuthMetadata(name="bad\udc00"))
    errors = aa.validate_config(c)
    assert errors and "not valid text" in errors[0]
    with pytest.raises(aa.ConfigError):
        aa.AuthEngine(c)
