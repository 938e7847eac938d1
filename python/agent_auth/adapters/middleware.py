"""Web middleware: FastAPI/Starlette, Flask, and any ASGI application.

Every adapter builds an AuthRequest from the headers ``X-Agent-Name``,
``X-User-Name`` and optional ``X-Session-Id``, with action
``<method lower>:<path>`` and resource the URL, and answers:

- 400 ``{"error": ...}`` when the agent or user header is missing;
- 403 ``{"error": "Forbidden", "reason": ...}`` when denied;
- 403 ``{"error": "Approval required", "tier", "reason",
  "approval_policy"}`` when the action needs approval;
- otherwise the application's own response.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

from ..types import AuthDecision, AuthRequest

__all__ = ["fastapi_auth_middleware", "flask_auth_decorator",
           "AgentAuthASGIMiddleware"]


def _answer(decision: AuthDecision) -> Optional[Tuple[int, Dict[str, Any]]]:
    """(status, body) when the request must be stopped, else None."""
    if not decision.allowed:
        return 403, {"error": "Forbidden", "reason": decision.reason}
    if decision.requires_approval:
        return 403, {"error": "Approval required", "tier": decision.tier,
                     "reason": decision.reason,
                     "approval_policy": decision.approval_policy}
    return None


_MISSING = {"error": "Missing X-Agent-Name or X-User-Name header"}


async def fastapi_auth_middleware(engine: Any, request: Any,
                                  call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """Starlette/FastAPI HTTP middleware::

        @app.middleware("http")
        async def auth(request, call_next):
            return await fastapi_auth_middleware(engine, request, call_next)
    """
    from starlette.responses import JSONResponse

    agent = request.headers.get("x-agent-name")
    user = request.headers.get("x-user-name")
    if not agent or not user:
        return JSONResponse(_MISSING, status_code=400)
    req = AuthRequest(agent=agent, user=user,
                      action="%s:%s" % (request.method.lower(),
                                        request.url.path),
                      resource=str(request.url),
                      session_id=request.headers.get("x-session-id") or None)
    decision = await engine.authorize_async(req)
    stop = _answer(decision)
    if stop:
        return JSONResponse(stop[1], status_code=stop[0])
    return await call_next(request)


def flask_auth_decorator(engine: Any, agent_header: str = "X-Agent-Name",
                         user_header: str = "X-User-Name",
                         session_header: str = "X-Session-Id") -> Callable[..., Any]:
    """Returns ``require_auth``, a route decorator::

        require_auth = flask_auth_decorator(engine)

        @app.route("/docs")
        @require_auth()                      # action get:/docs
        def docs(): ...

        @app.route("/pay", methods=["POST"])
        @require_auth(action="pay:invoice")  # an explicit action
        def pay(): ...
    """

    def require_auth(action: Optional[str] = None) -> Callable[..., Any]:
        def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                from flask import jsonify, request

                agent = request.headers.get(agent_header)
                user = request.headers.get(user_header)
                if not agent or not user:
                    return jsonify(_MISSING), 400
                req = AuthRequest(
                    agent=agent, user=user,
                    action=action or "%s:%s" % (request.method.lower(),
                                                request.path),
                    resource=request.url,
                    session_id=request.headers.get(session_header) or None)
                stop = _answer(engine.authorize(req))
                if stop:
                    return jsonify(stop[1]), stop[0]
                return view(*args, **kwargs)
            return wrapper
        return decorate

    return require_auth


class AgentAuthASGIMiddleware:
    """Pure ASGI middleware (no framework needed)::

        app = AgentAuthASGIMiddleware(app, engine)

    HTTP requests are authorized as described in this module; other scopes
    (lifespan, websocket) pass through unless ``websockets=True``, which
    authorizes a websocket handshake as action ``websocket:<path>`` and
    closes it with code 1008 when refused. ``action_of(scope)`` may choose
    the action; ``exempt`` lists paths that are never checked.
    """

    def __init__(self, app: Callable[..., Any], engine: Any,
                 agent_header: str = "x-agent-name",
                 user_header: str = "x-user-name",
                 session_header: str = "x-session-id",
                 action_of: Optional[Callable[[Dict[str, Any]], str]] = None,
                 exempt: Tuple[str, ...] = (),
                 websockets: bool = False) -> None:
        self.app = app
        self.engine = engine
        self.agent_header = agent_header.lower().encode("latin-1")
        self.user_header = user_header.lower().encode("latin-1")
        self.session_header = session_header.lower().encode("latin-1")
        self.action_of = action_of
        self.exempt = tuple(exempt)
        self.websockets = websockets

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket") or \
                (kind == "websocket" and not self.websockets) or \
                scope.get("path", "") in self.exempt:
            await self.app(scope, receive, send)
            return
        headers: Dict[bytes, bytes] = {}
        for k, v in scope.get("headers", []):
            headers.setdefault(k.lower(), v)

        def header(name: bytes) -> str:
            v = headers.get(name)
            return v.decode("latin-1") if v else ""

        agent, user = header(self.agent_header), header(self.user_header)
        path = scope.get("path", "")
        if self.action_of:
            action = self.action_of(scope)
        elif kind == "websocket":
            action = "websocket:%s" % path
        else:
            action = "%s:%s" % (scope.get("method", "GET").lower(), path)
        stop: Optional[Tuple[int, Dict[str, Any]]]
        if not agent or not user:
            stop = (400, _MISSING)
        else:
            qs = scope.get("query_string", b"").decode("latin-1")
            host = header(b"host") or "localhost"
            url = "%s://%s%s%s" % (scope.get("scheme", "http"), host, path,
                                   "?" + qs if qs else "")
            req = AuthRequest(agent=agent, user=user, action=action,
                              resource=url,
                              session_id=header(self.session_header) or None)
            stop = _answer(await self.engine.authorize_async(req))
        if stop is None:
            await self.app(scope, receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps(stop[1]).encode("utf-8")
        await send({"type": "http.response.start", "status": stop[0],
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
