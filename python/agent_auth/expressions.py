"""The condition language (contract section 6), compiled and evaluated by
libagentauth: ``compile_expression``, ``evaluate``, ``tokenize``."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, NamedTuple, Optional

from . import _core
from .errors import ExpressionError

__all__ = ["ExpressionError", "CompiledExpression", "Token",
           "compile_expression", "evaluate", "tokenize"]

_FIELDS = ("agent", "user", "action", "resource", "scope")


class Token(NamedTuple):
    """A token of a condition: ``type``, ``value`` and its 0-based ``pos``."""
    type: str
    value: str
    pos: int


def _raise(e: "_core.CoreError", source: str) -> None:
    status, name, message, column = e.args
    raise ExpressionError(message, source, column - 1 if column > 0 else -1) \
        from None


class CompiledExpression:
    """A compiled condition. ``evaluate`` runs it; ``$variables`` are bound
    when it is evaluated (compiled again, once per set of variables)."""

    __slots__ = ("source", "a2a", "_checked", "_cache")

    def __init__(self, source: str, a2a: bool = False) -> None:
        self.source = source
        self.a2a = a2a
        try:
            self._checked = _core.Expr(source, a2a, None)
        except _core.CoreError as e:
            _raise(e, source)
        self._cache: Dict[Any, Any] = {}

    def _bound(self, variables: Optional[Mapping[str, Any]]) -> "_core.Expr":
        if not variables:
            variables = {}
        key = repr(sorted(variables.items()))
        e = self._cache.get(key)
        if e is None:
            try:
                e = _core.Expr(self.source, self.a2a, dict(variables))
            except _core.CoreError as err:
                _raise(err, self.source)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = e
        return e

    def __repr__(self) -> str:
        return "CompiledExpression(%r)" % self.source


class _Context:
    """A request-like view of an evaluation context dict."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        meta: Dict[str, Any] = {}
        inner = context.get("metadata")
        if isinstance(inner, Mapping):
            meta.update(inner)
        for k, v in context.items():
            if k in _FIELDS or k in ("metadata", "from_agent", "to_agent",
                                     "target_agent", "session_id"):
                continue
            meta[k] = v
        self.agent = str(context.get("from_agent", context.get("agent", "")) or "")
        self.user = str(context.get("user", "") or "")
        self.action = str(context.get("action", "") or "")
        self.resource = str(context.get("resource", "") or "")
        self.scope = str(context.get("scope", "") or "")
        self.session_id = context.get("session_id")
        self.target_agent = context.get("to_agent", context.get("target_agent"))
        self.metadata = meta


def compile_expression(source: str, *, a2a: bool = False) -> CompiledExpression:
    """Compiles a condition; ExpressionError (with ``pos``) for a syntax
    error. ``a2a`` compiles it as an A2A condition (from_agent, to_agent)."""
    return CompiledExpression(source, a2a)


def evaluate(compiled: "CompiledExpression | str", context: Mapping[str, Any],
             variables: Optional[Mapping[str, Any]] = None,
             matchers: Optional[Mapping[str, Any]] = None) -> bool:
    """Evaluates a condition against ``context`` (built-in fields agent,
    user, action, resource, scope, from_agent, to_agent; every other key,
    and the keys of ``context["metadata"]``, are metadata). ``matchers``
    maps a name to an object with ``match(text, pattern_name=None)`` (or a
    callable). ExpressionError when it cannot be evaluated (an unknown
    matcher): callers should fail closed."""
    if isinstance(compiled, str):
        compiled = CompiledExpression(compiled)
    if not isinstance(compiled, CompiledExpression):
        raise TypeError("compiled must be a CompiledExpression or str")
    if not isinstance(context, Mapping):
        raise TypeError("context must be a dict, not %s" %
                        type(context).__name__)
    e = compiled._bound(variables)
    try:
        return e.evaluate(_Context(context), matchers)
    except _core.CoreError as err:
        _raise(err, compiled.source)
    raise AssertionError("unreachable")


_KEYWORDS = {"and", "or", "not", "in", "matches", "contains", "starts_with",
             "ends_with", "true", "false", "null", "none"}
_OPS = ("==", "!=", ">=", "<=", ">", "<")
_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT = _START | set("0123456789")
_DIGITS = set("0123456789")


def tokenize(source: str) -> List[Token]:
    """The tokens of a condition, for display and tooling (types: STRING,
    NUMBER, IDENT, VARIABLE, KEYWORD, OP, LBRACKET, RBRACKET, LPAREN,
    RPAREN, COMMA, DOT, EOF). Whether a condition is valid is decided by
    ``compile_expression``, through the library; an unknown character or
    an unterminated string raises ExpressionError here too."""
    if not isinstance(source, str):
        raise TypeError("source must be a str")
    toks: List[Token] = []
    i, n = 0, len(source)
    single = {"[": "LBRACKET", "]": "RBRACKET", "(": "LPAREN",
              ")": "RPAREN", ",": "COMMA", ".": "DOT"}
    while i < n:
        c = source[i]
        if c.isspace():
            i += 1
        elif c in "\"'":
            j, buf = i + 1, []
            while j < n and source[j] != c:
                if source[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(source[j])
                j += 1
            if j >= n:
                raise ExpressionError("unterminated string", source, i)
            toks.append(Token("STRING", "".join(buf), i))
            i = j + 1
        elif c in _DIGITS:
            j = i
            while j < n and source[j] in _DIGITS:
                j += 1
            if j + 1 < n and source[j] == "." and source[j + 1] in _DIGITS:
                j += 1
                while j < n and source[j] in _DIGITS:
                    j += 1
            toks.append(Token("NUMBER", source[i:j], i))
            i = j
        elif c == "$" or c in _START:
            j = i + 1
            while j < n and source[j] in _IDENT:
                j += 1
            word = source[i:j]
            if c == "$":
                toks.append(Token("VARIABLE", word[1:], i))
            elif word.lower() in _KEYWORDS:
                toks.append(Token("KEYWORD", word.lower(), i))
            else:
                toks.append(Token("IDENT", word, i))
            i = j
        elif source.startswith(_OPS, i):
            op = next(o for o in _OPS if source.startswith(o, i))
            toks.append(Token("OP", op, i))
            i += len(op)
        elif c in single:
            toks.append(Token(single[c], c, i))
            i += 1
        else:
            raise ExpressionError("unexpected character %r" % c, source, i)
    toks.append(Token("EOF", "", n))
    return toks
