"""Loading and checking policies: ``load_config`` and ``validate_config``.

A policy is loaded and checked by libagentauth (every error at once, each
``file:line:col: message``); the result is handed back as the dataclasses
of :mod:`agent_auth.types`. A config object built or changed in Python is
turned back into a policy document and loaded by the library again when an
engine is made from it, so the library's checks apply to it too.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Tuple

from . import _core
from ._synth import plain
from .errors import ConfigError
from .types import (A2AConfig, A2APolicyConfig, AgentProfileConfig,
                    ApprovalPolicyConfig, AuditConfig, AuthConfig,
                    AuthMetadata, DelegationConfig, DelegationRuleConfig,
                    RoleConfig, SessionConfig, StateConfig)

__all__ = ["ConfigError", "load_config", "validate_config", "config_to_dict",
           "config_to_json"]


def _load(source: str, name: str, from_file: bool, strict: bool = False,
          environment: bool = True) -> "_core.Policy":
    try:
        return _core.Policy(source, name, from_file, strict, environment)
    except UnicodeEncodeError as e:
        raise ConfigError(["%s: a string is not valid text (%s)" % (name, e)]) \
            from None
    except _core.CoreError as e:
        status, status_name, messages = e.args
        if status_name == "EIO" and from_file and not os.path.exists(source):
            raise FileNotFoundError(2, "No such file or directory", source) \
                from None
        raise ConfigError(messages) from None


def _from_description(d: Dict[str, Any]) -> AuthConfig:
    roles = {}
    for r in d.get("roles", []):
        roles[r["name"]] = RoleConfig(
            name=r["name"], actions=list(r.get("actions") or []),
            extends=r.get("extends") or "",
            description=r.get("description") or "")
    profiles = {}
    for p in d.get("profiles", []):
        profiles[p["name"]] = AgentProfileConfig(
            name=p["name"], role=p.get("role") or "",
            allow=list(p.get("allow") or []), deny=list(p.get("deny") or []),
            scopes=list(p.get("scopes") or []),
            max_session_duration=p.get("max_session_duration", 3600),
            default_tier=p.get("default_tier") or "autonomous",
            description=p.get("description") or "")
    approvals = [ApprovalPolicyConfig(
        name=a["name"], condition=a.get("condition") or "",
        tier=a.get("tier") or "soft", description=a.get("description") or "")
        for a in d.get("approval_policies", [])]
    dl = d.get("delegation", {})
    delegation = DelegationConfig(
        enabled=dl.get("enabled", True),
        default_duration=dl.get("default_duration", 3600),
        max_duration=dl.get("max_duration", 86400),
        rules=[DelegationRuleConfig(
            name=r["name"], allowed_actions=list(r.get("allowed_actions") or []),
            max_duration=r.get("max_duration", 86400),
            require_reason=r.get("require_reason", False),
            description=r.get("description") or "")
            for r in dl.get("rules", [])])
    a = d.get("a2a", {})
    a2a = A2AConfig(default=a.get("default", "deny"), policies=[
        A2APolicyConfig(name=p["name"], from_agent=p.get("from_agent", "*"),
                        to_agent=p.get("to_agent", "*"),
                        action=p.get("action", "*"),
                        effect=p.get("effect", "allow"),
                        condition=p.get("condition") or "",
                        description=p.get("description") or "")
        for p in a.get("policies", [])])
    s = d.get("sessions", {})
    sessions = SessionConfig(
        default_duration=s.get("default_duration", 3600),
        max_duration=s.get("max_duration", 86400),
        cleanup_interval=s.get("cleanup_interval", 300))
    au = d.get("audit", {})
    audit = AuditConfig(enabled=au.get("enabled", True),
                        path=au.get("path", ".agent_auth/audit.jsonl"),
                        retention_days=au.get("retention_days", 90),
                        fsync=au.get("fsync", "never"),
                        on_failure=au.get("on_failure", "deny"))
    st = d.get("state", {}) or {}
    state_path = st.get("path") or ""
    # The default (state.db beside the audit log) is kept as "", so that it
    # follows audit.path when that is changed in Python.
    if state_path == os.path.join(os.path.dirname(audit.path), "state.db"):
        state_path = ""
    m = d.get("metadata", {}) or {}
    return AuthConfig(
        version=d.get("version", "1.0"),
        metadata=AuthMetadata(name=m.get("name") or "",
                              description=m.get("description") or "",
                              author=m.get("author") or ""),
        variables=dict(d.get("variables") or {}),
        roles=roles, profiles=profiles, approval_policies=approvals,
        delegation=delegation, a2a=a2a, sessions=sessions, audit=audit,
        state=StateConfig(path=state_path))


def load_config(path: "str | os.PathLike[str]" = "agent_auth.yaml", *,
                strict: bool = False) -> AuthConfig:
    """Loads, validates and compiles the policy file at ``path``.

    Raises FileNotFoundError for a missing file and ConfigError (with every
    error in ``.errors``) for anything invalid. ``strict`` makes warnings
    (unknown keys...) errors, as ``agent-auth validate --strict`` does.
    The warnings of a valid file are in the returned object's
    ``_warnings`` attribute.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    policy = _load(path, path, True, strict)
    config = _from_description(json.loads(policy.describe()))
    object.__setattr__(config, "_warnings", list(policy.warnings))
    object.__setattr__(config, "_source", path)
    return config


def _omit_empty(d: Dict[str, Any], *keys: str) -> Dict[str, Any]:
    for k in keys:
        if d.get(k) in ("", None):
            d.pop(k, None)
    return d


def config_to_dict(config: AuthConfig) -> Dict[str, Any]:
    """The policy document (as agent_auth.yaml would hold it) of a config
    object."""
    if not isinstance(config, AuthConfig):
        raise TypeError("config must be an AuthConfig, not %s" %
                        type(config).__name__)

    doc: Dict[str, Any] = {
        "version": plain(config.version),
        "metadata": plain(config.metadata),
        "variables": plain(config.variables),
    }
    roles = {}
    for key, role in (config.roles or {}).items():
        r = plain(role)
        r.pop("name", None)
        roles[key] = _omit_empty(r, "extends")
    doc["roles"] = roles
    profiles = {}
    for key, prof in (config.profiles or {}).items():
        p = plain(prof)
        p.pop("name", None)
        profiles[key] = _omit_empty(p, "role")
    doc["profiles"] = profiles
    doc["approval_policies"] = plain(config.approval_policies)
    doc["delegation"] = plain(config.delegation)
    doc["a2a"] = plain(config.a2a)
    doc["sessions"] = plain(config.sessions)
    doc["audit"] = plain(config.audit)
    state = _omit_empty(plain(getattr(config, "state", StateConfig())), "path")
    if state:
        doc["state"] = state
    return doc


def config_to_json(config: AuthConfig) -> str:
    """The policy document of a config object as JSON text (which is also
    YAML, so the library loads it as it loads a policy file)."""
    try:
        return json.dumps(config_to_dict(config), ensure_ascii=False,
                          allow_nan=False, indent=1)
    except (TypeError, ValueError) as e:
        raise ConfigError(["<config>: %s" % e]) from None


def _policy_of(config: AuthConfig) -> "_core.Policy":
    """Loads a config object through the library. The text is not
    interpolated again (${NAME} was replaced when the file was loaded)."""
    text = config_to_json(config)
    return _load(text, "<config>", False, False, False)


def validate_config(config: AuthConfig) -> List[str]:
    """The errors of a config object built or changed in Python (an empty
    list when the library accepts it)."""
    try:
        _policy_of(config)
    except ConfigError as e:
        return list(e.errors)
    except TypeError as e:
        return [str(e)]
    return []
