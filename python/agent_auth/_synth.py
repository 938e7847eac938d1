"""Policies made up on the fly, so that the building blocks (roles,
profiles, approval and A2A evaluators) are answered by libagentauth itself
rather than by a second implementation in Python."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

from . import _core
from ._util import load_policy, raise_core


def plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name))
                for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [plain(v) for v in obj]
    if hasattr(obj, "value") and isinstance(getattr(obj, "value"), str):
        return obj.value
    return obj


def policy(doc: Dict[str, Any]) -> "_core.Policy":
    base: Dict[str, Any] = {"version": "1.0",
                            "audit": {"enabled": False}}
    base.update(doc)
    return load_policy(base)


def engine(doc: Dict[str, Any]) -> Tuple["_core.Policy", "_core.Engine"]:
    p = policy(doc)
    try:
        return p, _core.Engine(p, None, _core.AUDIT_OFF)
    except _core.CoreError as e:
        raise_core(e)


def roles_doc(roles: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for key, r in (roles or {}).items():
        d = plain(r)
        if isinstance(d, dict):
            d.pop("name", None)
            if not d.get("extends"):
                d.pop("extends", None)
        out[key] = d
    return out
