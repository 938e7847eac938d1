"""The building blocks: expressions, roles, profiles, approval, A2A - each
answered by the C library."""
import pytest

import agent_auth as aa
from agent_auth import expressions as ex
from agent_auth.a2a import A2AEvaluator
from agent_auth.approval import ApprovalEvaluator
from agent_auth.profiles import (ResolvedProfile, check_action, check_scope,
                                 resolve_profile)
from agent_auth.roles import ResolvedRole, resolve_role

from conftest import ENTERPRISE


@pytest.fixture(scope="module")
def cfg():
    return aa.load_config(ENTERPRISE)


@pytest.mark.parametrize("src,ctx,want", [
    ('action == "x"', {"action": "x"}, True),
    ('action == "x"', {"action": "y"}, False),
    ("", {}, True),
    ("   ", {}, True),
    ("amount > 10 AND amount < 20", {"amount": 15}, True),
    ("1 == 1.0", {}, True),
    ('"1" == 1', {}, False),
    ("missing == null", {}, True),
    ('user in ["a", "b"]', {"user": "b"}, True),
    ('user not in ["a", "b"]', {"user": "b"}, False),
    ('"ell" in resource', {"resource": "hello"}, True),
    ('resource starts_with "he"', {"resource": "hello"}, True),
    ('resource ends_with "lo"', {"resource": "hello"}, True),
    ('tags contains "x"', {"tags": ["x"]}, False),  # strings only
    ("not flag", {"flag": False}, True),
    ("metadata.env == \"prod\"", {"env": "prod"}, True),
    ("metadata.env == \"prod\"", {"metadata": {"env": "prod"}}, True),
    ("TRUE and not NONE", {}, True),
])
def test_evaluate(src, ctx, want):
    assert ex.evaluate(ex.compile_expression(src), ctx) is want
    assert ex.evaluate(src, ctx) is want


def test_variables():
    c = ex.compile_expression("amount > $limit and env in $envs")
    v = {"limit": 100, "envs": ["prod", "production"]}
    assert ex.evaluate(c, {"amount": 101, "env": "prod"}, v)
    assert not ex.evaluate(c, {"amount": 99, "env": "prod"}, v)
    assert not ex.evaluate(c, {"amount": 101, "env": "dev"}, v)
    with pytest.raises(aa.ExpressionError, match="limit"):
        ex.evaluate(c, {"amount": 1}, {})


def test_hardened_metadata_cannot_override_fields():
    # a context key "user" is the field; metadata.user is metadata
    c = ex.compile_expression('user == "alice"')
    assert not ex.evaluate(c, {"user": "bob", "metadata": {"user": "alice"}})


def test_compile_errors_have_positions():
    with pytest.raises(aa.ExpressionError) as e:
        ex.compile_expression('action == "x" and')
    assert e.value.pos >= 14 and e.value.source == 'action == "x" and'
    assert e.value.message
    with pytest.raises(aa.ExpressionError) as e:
        ex.compile_expression('action == "unterminated')
    assert e.value.pos >= 0
    with pytest.raises(aa.ExpressionError):
        ex.compile_expression("(" * 500 + "1" + ")" * 500)
    err = aa.ExpressionError("bad", "a b", 2)
    assert err.pos == 2 and "position 2" in str(err)
    assert isinstance(err, aa.AgentAuthError)


def test_a2a_expressions():
    c = ex.compile_expression('from_agent == "a" and to_agent == "b"',
                              a2a=True)
    assert ex.evaluate(c, {"from_agent": "a", "to_agent": "b"})


def test_matchers_and_failing_closed():
    class Upper:
        def match(self, text, pattern_name=None):
            return text is not None and text.isupper()

    c = ex.compile_expression("user matches shouting")
    assert ex.evaluate(c, {"user": "BOB"}, matchers={"shouting": Upper()})
    assert not ex.evaluate(c, {"user": "bob"}, matchers={"shouting": Upper()})
    with pytest.raises(aa.ExpressionError, match="shouting"):
        ex.evaluate(c, {"user": "BOB"})

    class Broken:
        def match(self, text, pattern_name=None):
            raise RuntimeError("broken matcher")

    with pytest.raises(RuntimeError, match="broken"):
        ex.evaluate(c, {"user": "B"}, matchers={"shouting": Broken()})


def test_evaluate_bad_context():
    c = ex.compile_expression("x == 1")
    with pytest.raises(TypeError):
        ex.evaluate(c, ["x"])
    with pytest.raises(TypeError):
        ex.evaluate(c, {"x": object()})


def test_tokenize():
    toks = ex.tokenize('amount >= 10 and user in $admins or name == \'x\'')
    assert [t.type for t in toks] == [
        "IDENT", "OP", "NUMBER", "KEYWORD", "IDENT", "KEYWORD", "VARIABLE",
        "KEYWORD", "IDENT", "OP", "STRING", "EOF"]
    assert toks[0] == ex.Token("IDENT", "amount", 0)
    assert toks[2].pos == 10 and toks[6].value == "admins"
    with pytest.raises(aa.ExpressionError) as e:
        ex.tokenize("a == @")
    assert e.value.pos == 5
    with pytest.raises(aa.ExpressionError):
        ex.tokenize('"open')


def test_resolve_role(cfg):
    r = resolve_role("engineer", cfg.roles)
    assert isinstance(r, ResolvedRole)
    assert r.chain == ["engineer", "contributor", "viewer"]
    assert {"deploy:*", "write:documents", "read:*", "list"} <= r.actions
    assert resolve_role("viewer", cfg.roles).chain == ["viewer"]
    with pytest.raises(KeyError):
        resolve_role("ghost", cfg.roles)
    cyc = {"a": aa.RoleConfig("a", ["x"], extends="b"),
           "b": aa.RoleConfig("b", ["y"], extends="a")}
    with pytest.raises(aa.ConfigError, match="a"):
        resolve_role("a", cyc)


def test_profiles(cfg):
    p = resolve_profile("copilot", cfg.profiles, cfg.roles)
    assert isinstance(p, ResolvedProfile)
    assert p.role_chain == ["engineer", "contributor", "viewer"]
    assert "read:secrets-metadata" in p.effective_actions
    assert p.denied_actions == {"deploy:prod-db", "delete:*"}
    assert p.allowed_scopes == ["project:*", "repo:*"]
    assert p.max_session_duration == 1800 and p.default_tier == "autonomous"
    assert check_action(p, "deploy:prod-db") == "deny"
    assert check_action(p, "deploy:web") == "allow"
    assert check_action(p, "delete:all") == "deny"
    assert check_action(p, "send:mail") is None
    assert check_scope(p, "repo:web") and check_scope(p, "project:x")
    assert not check_scope(p, "cluster:prod")
    assert check_scope(p, "")
    open_p = resolve_profile("orchestrator", cfg.profiles, cfg.roles)
    assert check_scope(open_p, "anything")
    # a hand-made ResolvedProfile works too
    hand = ResolvedProfile("h", {"a:*"}, {"a:b"}, [], 60, "soft", [])
    assert check_action(hand, "a:b") == "deny"
    assert check_action(hand, "a:c") == "allow"
    with pytest.raises(KeyError):
        resolve_profile("ghost", cfg.profiles, cfg.roles)


def test_approval_evaluator(cfg):
    ev = ApprovalEvaluator(cfg.approval_policies, cfg.variables)
    assert ev.evaluate("deploy:web", {"env": "prod"}) == "strong"
    assert ev.evaluate("deploy:web", {"env": "dev"}) == "autonomous"
    assert ev.evaluate("pay:invoice", {"amount": 20000}) == "strong"
    assert ev.evaluate("refund:1", {}) == "soft"
    assert ev.evaluate("write:code", {"user": "alice"}) == "autonomous"
    assert ev.evaluate("write:code", {"user": "bob"}) == "soft"
    assert ev.evaluate("read:x", {}, default_tier="soft") == "soft"
    assert ev.evaluate("refund:1", {}, default_tier="strong") == "strong"
    d = ev.evaluate_decision("pay:invoice", {"amount": 20000})
    assert d.approval_policy == "large-payment"
    # fail closed: an unknown matcher counts as matched
    fc = ApprovalEvaluator([aa.ApprovalPolicyConfig(
        "m", condition="user matches nobody_registered", tier="strong")])
    assert fc.evaluate("x", {"user": "u"}) == "strong"
    with pytest.raises(aa.ConfigError):
        ApprovalEvaluator([aa.ApprovalPolicyConfig("b", condition="a ==")])


def test_a2a_evaluator(cfg):
    ev = A2AEvaluator(cfg.a2a, cfg.variables)
    ok, reason = ev.evaluate("orchestrator", "research-bot", "read:x")
    assert ok and reason.startswith("Allowed by A2A policy: The orchestrator")
    ok, reason = ev.evaluate("copilot", "billing-agent", "pay:invoice")
    assert not ok and reason == ("Denied by A2A policy: Nobody may ask the "
                                 "billing agent to pay")
    assert ev.evaluate("copilot", "research-bot", "read:a") == (
        True, "Allowed by A2A policy: copilot-asks-research")
    assert ev.evaluate("copilot", "research-bot", "read:a",
                       {"classification": "secret"}) == (
        False, "Denied by default A2A policy")
    assert ev.evaluate("x", "y", "z") == (False, "Denied by default A2A policy")
    allow = A2AEvaluator(aa.A2AConfig(default="allow"))
    assert allow.evaluate("x", "y", "z") == (True,
                                             "Allowed by default A2A policy")
    # fail closed: an erroring deny counts, an erroring allow does not
    fc = A2AEvaluator(aa.A2AConfig(default="allow", policies=[
        aa.A2APolicyConfig("d", effect="deny",
                           condition="from_agent matches unknown")]))
    assert fc.evaluate("a", "b", "c")[0] is False
    fa = A2AEvaluator(aa.A2AConfig(default="deny", policies=[
        aa.A2APolicyConfig("a", effect="allow",
                           condition="from_agent matches unknown")]))
    assert fa.evaluate("a", "b", "c")[0] is False


def test_tokenize_accepts_what_compiles(cfg):
    """Every condition the library compiles tokenizes, and a character the
    library's lexer refuses is refused by tokenize too."""
    sources = [p.condition for p in cfg.approval_policies] + [
        p.condition for p in cfg.a2a.policies] + [
        "x >= 1.25 and not (y != 'a') or z in [1, 2, $v]",
        "metadata.k starts_with \"p\"", "A AND b OR NOT c"]
    for src in sources:
        ex.compile_expression(src)
        assert ex.tokenize(src)[-1].type == "EOF"
    for bad in ("a - b", "a == #", "a ~ b"):
        with pytest.raises(aa.ExpressionError):
            ex.compile_expression(bad)
        with pytest.raises(aa.ExpressionError):
            ex.tokenize(bad)
