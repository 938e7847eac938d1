"""fastapi_app.py - what users of the reference package deploy today, for
bench/server_bench.sh: a FastAPI app whose every request is authorized by
our Python package's ``fastapi_auth_middleware`` (identity from the
X-Agent-Name / X-User-Name headers, action ``<method>:<path>``), served by
uvicorn. The route reads the JSON body it is given (the same request body
``agent-auth serve`` decides) and answers a fixed JSON object, so the
work per request is: HTTP, ASGI, the middleware's one decision, the body.

    AA_BENCH_POLICY=policy.yaml uvicorn fastapi_app:app --workers 2
"""
import os

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from agent_auth import AuthEngine, load_config
from agent_auth.adapters.middleware import fastapi_auth_middleware

engine = AuthEngine(load_config(os.environ["AA_BENCH_POLICY"]))
app = FastAPI()


@app.middleware("http")
async def auth(request, call_next):
    return await fastapi_auth_middleware(engine, request, call_next)


@app.post("/v1/authorize")
async def authorize(request: Request):
    body = await request.json()
    return JSONResponse({"ok": True, "action": body.get("action")})
