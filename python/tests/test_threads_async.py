"""authorize releases the GIL and is thread-safe; authorize_async does not
block the event loop."""
import asyncio
import threading
import time

import pytest

import agent_auth as aa
from agent_auth import AuthRequest

MIX = [
    (AuthRequest(agent="research-bot", user="carol", action="read:docs",
                 scope="workspace:research"), True, "autonomous"),
    (AuthRequest(agent="research-bot", user="carol", action="write:docs"),
     False, "autonomous"),
    (AuthRequest(agent="copilot", user="bob", action="deploy:api",
                 scope="project:web", metadata={"env": "prod"}), True,
     "strong"),
    (AuthRequest(agent="orchestrator", user="dave", action="pay:invoice",
                 target_agent="billing-agent"), False, "autonomous"),
    (AuthRequest(agent="billing-agent", user="x", action="refund:1"), True,
     "soft"),
]


def test_threads_give_the_same_answers(enterprise):
    enterprise.audit.enabled = False
    engine = aa.AuthEngine(enterprise)
    errors = []

    def work(k):
        try:
            for i in range(4000):
                req, allowed, tier = MIX[(i + k) % len(MIX)]
                d = engine.authorize(req)
                if d.allowed != allowed or d.tier != tier:
                    errors.append((req, d))
                if i % 500 == 0:
                    many = engine.authorize_many([m[0] for m in MIX])
                    if [d.allowed for d in many] != [m[1] for m in MIX]:
                        errors.append(("many", many))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_threads_with_audit_keep_every_line(enterprise):
    engine = aa.AuthEngine(enterprise)
    n, per = 4, 250

    def work():
        for i in range(per):
            engine.authorize(MIX[i % len(MIX)][0])

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = aa.AuditLog(enterprise.audit.path)
    assert len(log.read(limit=0)) == n * per
    assert log.verify()


def test_gil_is_released(enterprise, monkeypatch):
    """While one thread is inside the C engine (a long authorize_many),
    another Python thread keeps running."""
    enterprise.audit.enabled = False
    engine = aa.AuthEngine(enterprise)
    reqs = [m[0] for m in MIX] * 40000  # 200k decisions, ~0.1 s or more
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.01)
    t0 = time.perf_counter()
    engine.authorize_many(reqs)
    # (converting the requests holds the GIL; deciding does not)
    t1 = time.perf_counter()
    stop.set()
    t.join()
    during = [x for x in ticks if t0 <= x <= t1]
    assert t1 - t0 > 0.02
    assert len(during) >= 3, (len(during), t1 - t0)


def test_authorize_async(enterprise):
    engine = aa.AuthEngine(enterprise)

    async def main():
        beats = 0

        async def heartbeat():
            nonlocal beats
            while True:
                beats += 1
                await asyncio.sleep(0)

        hb = asyncio.ensure_future(heartbeat())
        decisions = await asyncio.gather(*[
            engine.authorize_async(m[0]) for m in MIX * 20])
        hb.cancel()
        return decisions, beats

    decisions, beats = asyncio.run(main())
    assert [d.allowed for d in decisions] == [m[1] for m in MIX] * 20
    assert beats > 0


def test_authorize_async_does_not_block_the_loop(enterprise):
    """A slow user-permissions provider runs in a worker thread: the event
    loop keeps serving other tasks meanwhile."""
    def slow(user):
        time.sleep(0.3)
        return {"send:email"}

    engine = aa.AuthEngine(enterprise, slow)

    async def main():
        t0 = time.perf_counter()
        task = asyncio.ensure_future(engine.authorize_async(AuthRequest(
            agent="copilot", user="bob", action="send:email")))
        await asyncio.sleep(0.05)
        early = time.perf_counter() - t0
        d = await task
        return early, d

    early, d = asyncio.run(main())
    assert early < 0.2
    assert d.allowed
