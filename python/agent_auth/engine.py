"""The authorization engine: ``AuthEngine`` over libagentauth."""
from __future__ import annotations

import asyncio
import functools
from typing import (Callable, Iterable, List, Optional, Protocol, Sequence,
                    Set, Union, runtime_checkable)

from . import _util
from ._util import open_engine
from .config import _policy_of
from .types import (AuthConfig, AuthDecision, AuthRequest, DelegationGrant,
                    ExplainedDecision, Session, TraceStep)

__all__ = ["AuthEngine", "UserPermissionsProvider"]




@runtime_checkable
class UserPermissionsProvider(Protocol):
    """Step 6 of the pipeline: the actions a user holds."""

    def get_user_actions(self, user: str) -> Set[str]:
        ...


ProviderArg = Union[UserPermissionsProvider, Callable[[str], Set[str]], None]


def _provider_fn(provider: ProviderArg) -> Optional[Callable[[str], Set[str]]]:
    if provider is None:
        return None
    if hasattr(provider, "get_user_actions"):
        return provider.get_user_actions  # type: ignore[union-attr]
    if callable(provider):
        return provider
    raise TypeError("user_permissions_provider must have get_user_actions() "
                    "or be callable, not %s" % type(provider).__name__)


class AuthEngine:
    """Decides AuthRequests against a policy.

    The engine is built from ``config`` as it is when the engine is made
    (change fields such as ``config.audit.path`` first). Sessions and
    delegations live in a SQLite file beside the audit log unless
    ``config.state.path`` says otherwise. ``user_permissions_provider`` is
    an object with ``get_user_actions(user)`` or a callable ``user ->
    set[str]``; the action is permitted when it is in the returned set.

    ``authorize`` is thread-safe and releases the GIL while the C engine
    decides; ``authorize_many`` decides a whole list with one release.
    """

    def __init__(self, config: AuthConfig,
                 user_permissions_provider: ProviderArg = None) -> None:
        self._provider = user_permissions_provider
        self._open(config)

    def _open(self, config: AuthConfig) -> None:
        if not isinstance(config, AuthConfig):
            raise TypeError("config must be an AuthConfig, not %s" %
                            type(config).__name__)
        policy = _policy_of(config)
        engine = open_engine(policy,
                             user_permission=_provider_fn(self._provider))
        self._config = config
        self._policy = policy
        self._engine = engine
        if type(self).authorize is AuthEngine.authorize:
            # The bound C method itself: no Python frame per decision.
            self.authorize = engine.authorize  # type: ignore[method-assign]
        if type(self).authorize_many is AuthEngine.authorize_many:
            self.authorize_many = engine.authorize_many  # type: ignore

    @property
    def config(self) -> AuthConfig:
        """The config object the engine was built from."""
        return self._config

    @property
    def warnings(self) -> List[str]:
        """Load warnings of the policy (file:line:col: message)."""
        return list(self._policy.warnings)

    def reload(self, config: Optional[AuthConfig] = None) -> None:
        """Rebuilds the engine from ``config`` (default: the current config
        object, with any changes made to it since). On error the engine
        keeps its previous policy."""
        self._open(self._config if config is None else config)

    def authorize(self, request: AuthRequest) -> AuthDecision:
        """Decides one request. Wrong types in the request raise TypeError
        or ValueError naming the field; a request without agent, user or
        action is denied."""
        return self._engine.authorize(request)

    def authorize_many(self, requests: Sequence[AuthRequest]) -> List[AuthDecision]:
        """Decides a list of requests in one call (one release of the GIL),
        in order. A bad request raises before any is decided. With audit
        on, the lines of up to 64 requests at a time are written together
        (one lock, one write, in request order); a decision whose line
        could not be written is a denial saying so.

        The decisions returned hold only str, bool and float values and,
        like tuples of such values, are not tracked by the cycle collector
        (it would otherwise walk every one of a large batch): do not make
        them part of a reference cycle."""
        return self._engine.authorize_many(requests)

    def explain(self, request: AuthRequest) -> ExplainedDecision:
        """Decides a request and returns the decision with its trace: each
        pipeline step, what it looked at and which rule decided."""
        d = self._engine.explain(request)
        d.trace = [TraceStep(*t) for t in d.trace]
        return d

    async def authorize_async(self, request: AuthRequest) -> AuthDecision:
        """``authorize`` in a worker thread, so the event loop is never
        blocked (by an audit write or a state lookup)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._engine.authorize, request)

    # ---- sessions ---------------------------------------------------------

    def create_session(self, agent: str, user: str, scope: str = "",
                       duration: Optional[int] = None) -> Session:
        """Creates a session. The duration defaults to the agent profile's
        max_session_duration and is clamped to it and to
        sessions.max_duration; ValueError for a duration below 1 or a scope
        the profile does not accept."""
        return _util.create_session(self._engine, agent, user, scope, duration)

    def validate_session(self, session_id: str) -> Optional[Session]:
        """The session when active and unexpired, else None."""
        return _util.validate_session(self._engine, session_id)

    def revoke_session(self, session_id: str) -> bool:
        """True when the session was active and is now revoked."""
        return _util.revoke_session(self._engine, session_id)

    def list_sessions(self, agent: Optional[str] = None,
                      user: Optional[str] = None) -> List[Session]:
        """Active sessions, optionally of one agent and/or user."""
        return _util.list_sessions(self._engine, agent, user)

    # ---- delegations ------------------------------------------------------

    def create_delegation(self, from_user: str, to_agent: str,
                          actions: Iterable[str], duration: Optional[int] = None,
                          reason: str = "") -> DelegationGrant:
        """Grants ``actions`` of ``from_user`` to ``to_agent``. ValueError
        naming every rule broken when refused."""
        return _util.create_delegation(self._engine, from_user, to_agent,
                                       actions, duration, reason)

    def revoke_delegation(self, delegation_id: str) -> bool:
        """True when the grant was active and is now revoked."""
        return _util.revoke_delegation(self._engine, delegation_id)

    def list_delegations(self, agent: Optional[str] = None) -> List[DelegationGrant]:
        """Active grants, optionally to one agent."""
        return _util.list_delegations(self._engine, agent)

    def cleanup(self, retention_s: int = 0) -> int:
        """Marks expired sessions and grants; deletes inactive ones that
        ended more than ``retention_s`` ago. Returns how many were marked."""
        return _util.cleanup(self._engine, retention_s)
