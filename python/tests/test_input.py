"""Bad input never crashes and never allows: TypeError/ValueError naming
the field."""
import math

import pytest

import agent_auth as aa
from agent_auth import AuthRequest, _core


def base(**kw):
    d = dict(agent="research-bot", user="carol", action="read:docs")
    d.update(kw)
    return AuthRequest(**d)


@pytest.mark.parametrize("kw,exc,field", [
    (dict(agent=123), TypeError, "agent"),
    (dict(user=None), TypeError, "user"),
    (dict(action=b"read"), TypeError, "action"),
    (dict(resource=1.5), TypeError, "resource"),
    (dict(scope=["x"]), TypeError, "scope"),
    (dict(session_id=7), TypeError, "session_id"),
    (dict(target_agent=object()), TypeError, "target_agent"),
    (dict(metadata=[1, 2]), TypeError, "metadata"),
    (dict(metadata="k=v"), TypeError, "metadata"),
    (dict(metadata={1: "x"}), TypeError, "metadata keys"),
    (dict(metadata={"k": {"nested": 1}}), TypeError, "metadata['k']"),
    (dict(metadata={"k": [[1]]}), TypeError, "metadata['k'][0]"),
    (dict(metadata={"k": [1, object()]}), TypeError, "metadata['k'][1]"),
    (dict(metadata={"k": b"bytes"}), TypeError, "metadata['k']"),
    (dict(metadata={"k": float("nan")}), ValueError, "metadata['k']"),
    (dict(metadata={"k": math.inf}), ValueError, "metadata['k']"),
    (dict(metadata={"k": 10 ** 400}), ValueError, "metadata['k']"),
    (dict(metadata={"": 1}), ValueError, "metadata key"),
    (dict(metadata={"k": "\udc80"}), ValueError, "metadata['k']"),
    (dict(metadata={"\ud800": 1}), ValueError, "metadata key"),
    (dict(agent="bot\udc00"), ValueError, "agent"),
    (dict(user="a\x00b"), ValueError, "user"),
    (dict(action="x" * (_core.FIELD_MAX_BYTES + 1)), ValueError, "action"),
    (dict(metadata={"k%d" % i: i for i in range(_core.META_MAX_KEYS + 1)}),
     ValueError, "metadata"),
    (dict(metadata={"k": list(range(_core.META_MAX_LIST + 1))}), ValueError,
     "metadata['k']"),
])
def test_bad_field(engine, kw, exc, field):
    with pytest.raises(exc) as e:
        engine.authorize(base(**kw))
    assert field in str(e.value)
    with pytest.raises(exc):
        engine.explain(base(**kw))
    with pytest.raises(exc):
        engine.authorize_many([base(), base(**kw)])


def test_good_metadata_values(engine):
    md = {"s": "x", "i": 3, "f": 2.5, "b": True, "n": None,
          "l": ["a", 1, 2.0, False, None], "t": ("a", "b"), "e": [],
          "u": "naïve ☃"}
    d = engine.authorize(base(metadata=md))
    assert d.allowed


def test_not_a_request(engine):
    with pytest.raises(TypeError, match="no 'agent'"):
        engine.authorize(object())
    with pytest.raises(TypeError, match="AuthRequest"):
        engine.authorize(None)


def test_duck_typed_request(engine):
    class R:
        agent, user, action = "research-bot", "carol", "read:docs"

    assert engine.authorize(R()).allowed


def test_unicode_round_trip(engine, enterprise):
    enterprise.profiles["bøt"] = aa.AgentProfileConfig(name="bøt",
                                                       allow=["lire:*"])
    e = aa.AuthEngine(enterprise)
    d = e.authorize(AuthRequest(agent="bøt", user="zoë", action="lire:ñ"))
    assert d.allowed and d.reason == "Allowed by profile 'bøt'"


def test_metadata_changed_by_another_thread_is_safe(engine):
    """The engine reads a snapshot of metadata; mutating the dict while
    deciding in other threads never crashes."""
    import threading
    md = {"env": "prod", "l": ["a"]}
    stop = threading.Event()

    def mutate():
        i = 0
        while not stop.is_set():
            md["k%d" % (i % 50)] = ["x"] * (i % 7)
            md.pop("k%d" % ((i + 25) % 50), None)
            md["l"].append(i)
            if len(md["l"]) > 100:
                md["l"] = []
            i += 1

    t = threading.Thread(target=mutate)
    t.start()
    try:
        req = AuthRequest(agent="copilot", user="bob", action="deploy:x",
                          scope="project:a", metadata=md)
        for _ in range(3000):
            try:
                d = engine.authorize(req)
            except RuntimeError:
                continue  # "dictionary changed size during iteration"
            assert d.allowed and d.tier == "strong"
    finally:
        stop.set()
        t.join()


def test_random_garbage_never_crashes_or_allows(engine):
    """Seeded random values of every kind in every field: each call either
    raises TypeError/ValueError or returns a decision; a request with a
    field of the wrong kind is never decided."""
    import random
    rnd = random.Random(7)
    values = [None, 0, -1, 2 ** 70, 1.5, float("nan"), True, "", "read:docs",
              "research-bot", "carol", "x" * 70000, "\udcff", "a\x00b",
              b"bytes", [], ["a"], [["a"]], {}, {"k": "v"}, {"k": object()},
              object(), ("t",), {1, 2}]
    names = ["agent", "user", "action", "resource", "session_id", "scope",
             "target_agent", "metadata"]
    for _ in range(3000):
        kw = dict(agent="research-bot", user="carol", action="read:docs")
        for n in rnd.sample(names, rnd.randint(1, 3)):
            kw[n] = rnd.choice(values)
        req = AuthRequest(**kw)
        try:
            d = engine.authorize(req)
        except (TypeError, ValueError):
            continue
        for n in ("agent", "user", "action"):
            assert isinstance(kw[n], str)
        if d.allowed:
            assert kw["agent"] == "research-bot" and kw["action"] == "read:docs"
