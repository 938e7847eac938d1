"""The web adapters (Starlette/FastAPI, Flask, pure ASGI) with their test
clients, and the guardrails adapter."""
import asyncio
import sys
import types

import pytest

import agent_auth as aa
from agent_auth.adapters.middleware import (AgentAuthASGIMiddleware,
                                            fastapi_auth_middleware,
                                            flask_auth_decorator)


@pytest.fixture
def web_engine(tmp):
    config = aa.AuthConfig(
        roles={"reader": aa.RoleConfig("reader", ["get:/docs*"])},
        profiles={
            "bot": aa.AgentProfileConfig("bot", role="reader",
                                         allow=["post:/pay", "get:/ws"]),
        },
        approval_policies=[aa.ApprovalPolicyConfig(
            "payments", condition='action == "post:/pay"', tier="strong")],
        audit=aa.AuditConfig(path=str(tmp / "audit.jsonl")))
    return aa.AuthEngine(config)


H = {"X-Agent-Name": "bot", "X-User-Name": "alice"}


def check_answers(client, body=lambda r: r.json()):
    """The answers of an app behind an adapter, asked through a test
    client; body(response) reads a response's JSON."""
    def get(path, headers):
        r = client.get(path, headers=headers)
        return r.status_code, body(r)

    def post(path, headers):
        r = client.post(path, headers=headers)
        return r.status_code, body(r)

    r = get("/docs/1", H)
    assert r[0] == 200 and r[1] == {"ok": True}
    r = get("/docs/1", {"X-Agent-Name": "bot"})
    assert r[0] == 400 and "error" in r[1]
    r = get("/docs/1", {"X-User-Name": "alice"})
    assert r[0] == 400
    r = get("/admin", H)
    assert r[0] == 403
    assert r[1]["error"] and "not authorized" in r[1]["reason"]
    r = post("/pay", H)
    assert r[0] == 403
    assert r[1]["tier"] == "strong" and r[1]["approval_policy"] == "payments"
    assert "requires strong approval" in r[1]["reason"]
    r = get("/docs/1", dict(H, **{"X-Session-Id": "nope"}))
    assert r[0] == 403 and "Invalid or expired session" in r[1]["reason"]


def starlette_app(engine, fastapi=False):
    if fastapi:
        from fastapi import FastAPI
        app = FastAPI()

        @app.get("/docs/{n}")
        def docs(n: int):
            return {"ok": True}

        @app.get("/admin")
        def admin():
            return {"ok": True}

        @app.post("/pay")
        def pay():
            return {"ok": True}

        @app.middleware("http")
        async def auth(request, call_next):
            return await fastapi_auth_middleware(engine, request, call_next)
        return app
    from starlette.applications import Starlette
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ok(request):
        return JSONResponse({"ok": True})

    async def dispatch(request, call_next):
        return await fastapi_auth_middleware(engine, request, call_next)

    app = Starlette(routes=[Route("/docs/{n}", ok), Route("/admin", ok),
                            Route("/pay", ok, methods=["POST"])])
    app.add_middleware(BaseHTTPMiddleware, dispatch=dispatch)
    return app


@pytest.mark.parametrize("fastapi", [False, True])
def test_fastapi_middleware(web_engine, fastapi):
    from starlette.testclient import TestClient
    client = TestClient(starlette_app(web_engine, fastapi))
    check_answers(client)
    # the audit log saw the URL as resource
    entries = aa.AuditLog(web_engine.config.audit.path).read(
        action="get:/docs/1", limit=1)
    assert entries[0]["resource"].endswith("/docs/1")


def test_flask_decorator(web_engine):
    from flask import Flask, jsonify
    app = Flask(__name__)
    require_auth = flask_auth_decorator(web_engine)

    @app.route("/docs/<n>")
    @require_auth()
    def docs(n):
        return jsonify({"ok": True})

    @app.route("/admin")
    @require_auth()
    def admin():
        return jsonify({"ok": True})

    @app.route("/pay", methods=["POST"])
    @require_auth()
    def pay():
        return jsonify({"ok": True})

    @app.route("/explicit")
    @require_auth(action="get:/docs/explicit")
    def explicit():
        return jsonify({"ok": True})

    client = app.test_client()
    check_answers(client, lambda r: r.get_json())
    assert client.get("/explicit", headers=H).status_code == 200
    assert docs.__name__ == "docs"  # functools.wraps

    custom = flask_auth_decorator(web_engine, agent_header="A",
                                  user_header="U", session_header="S")
    app2 = Flask("second")

    @app2.route("/docs/x")
    @custom()
    def d2():
        return jsonify({"ok": True})

    c2 = app2.test_client()
    assert c2.get("/docs/x", headers={"A": "bot", "U": "u"}).status_code == 200
    assert c2.get("/docs/x", headers=H).status_code == 400


def test_pure_asgi_middleware(web_engine):
    async def inner(scope, receive, send):
        import json
        body = json.dumps({"ok": True}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    from starlette.testclient import TestClient
    app = AgentAuthASGIMiddleware(inner, web_engine, exempt=("/health",))
    client = TestClient(app)
    check_answers(client)
    assert client.get("/health").status_code == 200  # exempt

    # lifespan and other scopes pass through
    seen = []

    async def record(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(AgentAuthASGIMiddleware(record, web_engine)(
        {"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]


def test_pure_asgi_websocket(web_engine):
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    async def ws_app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hi"})
        await send({"type": "websocket.close", "code": 1000})

    app = AgentAuthASGIMiddleware(ws_app, web_engine, websockets=True,
                                  action_of=lambda s: "get:/ws")
    client = TestClient(app)
    with client.websocket_connect("/ws", headers=H) as ws:
        assert ws.receive_text() == "hi"
    with pytest.raises(WebSocketDisconnect) as e:
        with client.websocket_connect("/ws", headers={"X-Agent-Name": "x",
                                                      "X-User-Name": "u"}) as ws:
            ws.receive_text()
    assert e.value.code == 1008


class Event:
    def __init__(self, agent="bot", data=None, scope="get:/docs/1",
                 session_id=None, target_agent=None):
        self.agent, self.data, self.scope = agent, data or {}, scope
        self.session_id, self.target_agent = session_id, target_agent


class Guard:
    def __init__(self):
        self.events = []

    def evaluate(self, event):
        self.events.append(event)
        return "inner-decision"


@pytest.fixture
def fake_guardrails(monkeypatch):
    """A stand-in for theaios.guardrails.types.Decision."""
    class Decision:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    mods = {}
    for name in ("theaios", "theaios.guardrails", "theaios.guardrails.types"):
        mods[name] = types.ModuleType(name)
    mods["theaios.guardrails.types"].Decision = Decision
    for name, m in mods.items():
        monkeypatch.setitem(sys.modules, name, m)
    return Decision


def test_guardrails_imports_without_the_package():
    import importlib
    assert "theaios" not in sys.modules
    mod = importlib.import_module("agent_auth.adapters.guardrails")
    assert hasattr(mod, "GuardrailsAuthAdapter")


def test_guardrails_without_package_fails_only_on_decision(web_engine):
    from agent_auth.adapters.guardrails import GuardrailsAuthAdapter
    a = GuardrailsAuthAdapter(web_engine.config, Guard())
    assert a.evaluate(Event()) == "inner-decision"  # allowed: no Decision
    with pytest.raises(ImportError, match="theaios-guardrails"):
        a.evaluate(Event(data={"action": "delete:all"}))


def test_guardrails_adapter(web_engine, fake_guardrails):
    from agent_auth.adapters.guardrails import GuardrailsAuthAdapter
    guard = Guard()
    a = GuardrailsAuthAdapter(web_engine.config, guard)
    assert isinstance(a._auth_engine, aa.AuthEngine)
    assert a._default_user == "system"
    assert a.evaluate(Event(data={"action": "get:/docs/2"})) == "inner-decision"
    d = a.evaluate(Event(data={"action": "delete:all"}))
    assert d.outcome == "deny" and d.severity == "high"
    assert d.reason.startswith("Auth denied: Action 'delete:all'")
    d = a.evaluate(Event(data={"action": "post:/pay"}), user="bob")
    assert d.outcome == "require_approval" and d.tier == "strong"
    assert d.severity == "medium"
    assert d.reason.startswith("Auth requires strong approval: ")
    # action falls back to the scope; the session is checked
    d = a.evaluate(Event(scope="get:/docs/9", session_id="nope"))
    assert d.outcome == "deny" and "Invalid or expired session" in d.reason
    assert len(guard.events) == 1
    entries = aa.AuditLog(web_engine.config.audit.path).read(user="bob")
    assert entries and entries[0]["action"] == "post:/pay"
    d = asyncio.run(a.evaluate_async(Event(data={"action": "delete:x"})))
    assert d.outcome == "deny"
    assert asyncio.run(a.evaluate_async(Event())) == "inner-decision"
    with pytest.raises(TypeError):
        GuardrailsAuthAdapter({"version": "1.0"}, guard)
