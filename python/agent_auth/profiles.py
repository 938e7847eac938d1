"""Agent profiles, resolved and checked by libagentauth."""
from __future__ import annotations

import json
from typing import Dict, List, NamedTuple, Optional, Set

from . import _core, _synth
from .types import AgentProfileConfig, AuthRequest, RoleConfig

__all__ = ["ResolvedProfile", "resolve_profile", "check_action",
           "check_scope"]

_AGENT = "profile"


class ResolvedProfile(NamedTuple):
    """A profile with its effective allow patterns (role chain + allow),
    its deny patterns and scopes."""
    name: str
    effective_actions: Set[str]
    denied_actions: Set[str]
    allowed_scopes: List[str]
    max_session_duration: int
    default_tier: str
    role_chain: List[str]


def _profile_doc(prof: AgentProfileConfig) -> dict:
    d = _synth.plain(prof)
    d.pop("name", None)
    if not d.get("role"):
        d.pop("role", None)
    return d


def resolve_profile(name: str, profiles: Dict[str, AgentProfileConfig],
                    roles: Dict[str, RoleConfig]) -> ResolvedProfile:
    """Resolves the profile ``name``; KeyError when there is none,
    ConfigError when it (or a role) is invalid."""
    if name not in (profiles or {}):
        raise KeyError("unknown profile '%s'" % name)
    doc = {"roles": _synth.roles_doc(roles),
           "profiles": {name: _profile_doc(profiles[name])},
           "sessions": {"max_duration": 10 ** 9}}
    d = json.loads(_synth.policy(doc).describe())
    p = d["profiles"][0]
    chain: List[str] = []
    for r in d["roles"]:
        if r["name"] == p.get("role"):
            chain = list(r["chain"])
    rp = ResolvedProfile(
        name=name,
        effective_actions={e["pattern"] for e in p.get("effective", [])},
        denied_actions=set(p.get("deny", [])),
        allowed_scopes=list(p.get("scopes", [])),
        max_session_duration=p.get("max_session_duration", 3600),
        default_tier=p.get("default_tier", "autonomous"),
        role_chain=chain)
    return rp


# Engines over a profile's patterns, by content (a small cache).
_engines: Dict[tuple, tuple] = {}


def _engines_of(profile: ResolvedProfile):
    key = (frozenset(profile.effective_actions),
           frozenset(profile.denied_actions), tuple(profile.allowed_scopes))
    got = _engines.get(key)
    if got is None:
        doc = {"profiles": {_AGENT: {"allow": sorted(profile.effective_actions),
                                     "deny": sorted(profile.denied_actions),
                                     "scopes": list(profile.allowed_scopes)}}}
        p1, eng = _synth.engine(doc)
        p2, scope_eng = _synth.engine(
            {"profiles": {_AGENT: {"allow": ["*"],
                                   "scopes": list(profile.allowed_scopes)}}})
        got = (eng, scope_eng, p1, p2)
        if len(_engines) >= 256:
            _engines.pop(next(iter(_engines)))
        _engines[key] = got
    return got[0], got[1]


def check_action(profile: ResolvedProfile, action: str) -> Optional[str]:
    """"deny" when a deny pattern matches ``action`` (deny wins), "allow"
    when an effective pattern does, None when the action is not listed."""
    eng, _ = _engines_of(profile)
    d = eng.explain(AuthRequest(agent=_AGENT, user="-", action=action))
    for step, _detail, outcome in d.trace:
        if step == "deny" and outcome == -1:
            return "deny"
        if step == "allow" and outcome == 1:
            return "allow"
    return None


def check_scope(profile: ResolvedProfile, scope: str) -> bool:
    """True when the profile accepts ``scope`` (an empty scopes list, or an
    empty scope, accepts)."""
    _, eng = _engines_of(profile)
    d = eng.authorize(AuthRequest(agent=_AGENT, user="-", action="x",
                                  scope=scope or ""))
    return bool(d.allowed)
