"""A computational graph ("circuit") of scalar gates, as cs231n draws them: frozen values, never numbers.

A circuit is its input variables and its gates (nodes) in computing order, the last one the
output. Each node has a name (`q`, `f`, or a generated one), a kind (gradekit.ops.gates has one
class per kind), the names it reads, and a constant for the gates that carry one (scale, shift).
A name read by two gates is a fork: its gradient is the sum of its branches.

`parse_function` reads the expression a spec writes (`(x + y) * z`, or several lines
`name = expression`, the last one the output) with a small recursive-descent grammar: never
eval, never sympify.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

# Gate kinds (gradekit.ops.gates has one class each): binary, unary, and unary with a constant.
BINARY = ("add", "sub", "mul", "max", "min")
UNARY = ("neg", "exp", "log", "sigmoid", "tanh", "relu", "square", "recip")
WITH_CONSTANT = ("scale", "shift")
KINDS = BINARY + UNARY + WITH_CONSTANT
FUNCTIONS = {"exp": "exp", "log": "log", "sigmoid": "sigmoid", "sigma": "sigmoid", "tanh": "tanh", "relu": "relu",
             "max": "max", "min": "min", "square": "square"}
# Names a circuit may not use: the function names, and the names the multilayer perceptron's
# problems give their quantities (gradekit.model.names).
RESERVED = frozenset({*FUNCTIONS, "loss", "pred", "e", "b", "gamma", "beta", "mu", "var", "new"})
NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")
MAX_NODES = 24


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    inputs: tuple[str, ...]
    const: float = 0.0  # the factor of `scale`, the addend of `shift`


@dataclass(frozen=True)
class Circuit:
    """The gates of a computational graph in computing order; the last node is the output."""

    family: ClassVar[str] = "circuit"
    variables: tuple[str, ...]
    nodes: tuple[Node, ...]
    function: str = ""  # the expression as the spec writes it
    layout: str = "rows"
    samples: int = 1

    @property
    def output(self) -> str:
        return self.nodes[-1].name

    def given_names(self) -> tuple[str, ...]:
        return self.variables

    def parameter_names(self) -> tuple[str, ...]:
        """Every input variable: the output is differentiated with respect to each."""
        return self.variables

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def consumers(self, name: str) -> tuple[Node, ...]:
        """The gates that read `name`, once each per input slot, in computing order."""
        return tuple(n for n in self.nodes if name in n.inputs)

    def names(self) -> tuple[str, ...]:
        return (*self.variables, *(n.name for n in self.nodes))


class ExpressionError(ValueError):
    """A bad expression: `column` (1-based, within its line) and the problem, in words."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|[-+*/^(),]))")


@dataclass
class _Tok:
    kind: str  # number, name, op, end
    text: str
    column: int  # 1-based


def _tokens(text: str, line: int) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise ExpressionError(f"unexpected character {text[col - 1]!r}", line, col)
        kind = m.lastgroup or "op"
        out.append(_Tok(kind, m[kind], m.start(kind) + 1))
        pos = m.end()
    out.append(_Tok("end", "", len(text) + 1))
    return out


# An expression's value while parsing: a number (folded) or the name of a variable or node.
_Value = float | str


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*; unary := '-' unary | power;
    power := atom (('^'|'**') number)?; atom := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'."""

    def __init__(self, builder: _Builder, text: str, line: int):
        self.b, self.line = builder, line
        self.toks = _tokens(text, line)
        self.i = 0

    def fail(self, message: str, tok: _Tok | None = None) -> ExpressionError:
        return ExpressionError(message, self.line, (tok or self.toks[self.i]).column)

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.peek()
        if tok.text != text or tok.kind != "op":
            found = "the end" if tok.kind == "end" else repr(tok.text)
            raise self.fail(f"expected {text!r}, found {found}")
        self.take()

    def parse(self) -> _Value:
        if self.peek().kind == "end":
            raise self.fail("empty expression")
        value = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.fail(f"unexpected {tok.text!r} (an operator missing?)")
        return value

    def expr(self) -> _Value:
        left = self.term()
        while self.peek().kind == "op" and self.peek().text in "+-":
            tok = self.take()
            right = self.term()
            left = self.b.binary("add" if tok.text == "+" else "sub", left, right, tok, self)
        return left

    def term(self) -> _Value:
        left = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            tok = self.take()
            right = self.unary()
            left = self.b.binary("mul" if tok.text == "*" else "div", left, right, tok, self)
        return left

    def unary(self) -> _Value:
        tok = self.peek()
        if tok.kind == "op" and tok.text == "-":
            self.take()
            return self.b.unary("neg", self.unary(), tok, self)
        if tok.kind == "op" and tok.text == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> _Value:
        base = self.atom()
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("^", "**"):
            self.take()
            exp = self.peek()
            if exp.kind != "number" or float(exp.text) != 2:
                raise self.fail("only the square (^2 or **2) is a power gate")
            self.take()
            return self.b.unary("square", base, tok, self)
        return base

    def atom(self) -> _Value:
        tok = self.take()
        if tok.kind == "number":
            return float(tok.text)
        if tok.kind == "op" and tok.text == "(":
            value = self.expr()
            self.expect(")")
            return value
        if tok.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                if tok.text not in FUNCTIONS:
                    raise self.fail(f"unknown function {tok.text!r} (functions: {', '.join(sorted(FUNCTIONS))})", tok)
                self.take()
                args = [self.expr()]
                while self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                    args.append(self.expr())
                self.expect(")")
                kind = FUNCTIONS[tok.text]
                want = 2 if kind in BINARY else 1
                if len(args) != want:
                    raise self.fail(f"{tok.text} takes {want} argument{'s' * (want > 1)}, got {len(args)}", tok)
                return self.b.binary(kind, *args, tok, self) if want == 2 else self.b.unary(kind, args[0], tok, self)
            return self.b.variable(tok, self)
        found = "the end" if tok.kind == "end" else repr(tok.text)
        raise ExpressionError(f"expected a number, a name or '(', found {found}", self.line, tok.column)


class _Builder:
    """Collects variables and nodes while parsing; folds operations on numbers only."""

    def __init__(self, variables: tuple[str, ...] | None):
        self.declared = variables
        self.variables: list[str] = []
        self.nodes: list[Node] = []
        self.defined: set[str] = set()
        self.counter = 0

    def fresh(self) -> str:
        while True:
            self.counter += 1
            name = f"q{self.counter}"
            if name not in self.defined and name not in self.variables and name not in (self.declared or ()):
                return name

    def add(self, kind: str, inputs: tuple[str, ...], tok: _Tok, p: _Parser, const: float = 0.0) -> str:
        if len(self.nodes) >= MAX_NODES:
            raise p.fail(f"too many gates (at most {MAX_NODES})", tok)
        name = self.fresh()
        self.nodes.append(Node(name, kind, inputs, const))
        return name

    def variable(self, tok: _Tok, p: _Parser) -> str:
        name = tok.text
        if name in self.defined:
            return name
        _check_name(name, tok, p)
        if self.declared is not None and name not in self.declared:
            raise p.fail(f"unknown variable {name!r} (the spec's variables: {', '.join(self.declared)})", tok)
        if name not in self.variables:
            self.variables.append(name)
        return name

    def unary(self, kind: str, a: _Value, tok: _Tok, p: _Parser) -> _Value:
        if isinstance(a, float):
            raise p.fail(f"{kind} of a number: write the number itself", tok)
        if kind == "neg":
            return self.add("neg", (a,), tok, p)
        return self.add(kind, (a,), tok, p)

    def binary(self, kind: str, a: _Value, b: _Value, tok: _Tok, p: _Parser) -> _Value:
        if isinstance(a, float) and isinstance(b, float):
            raise p.fail("an operation on two numbers: write its result", tok)
        if kind == "div":
            if isinstance(b, float):
                if b == 0:
                    raise p.fail("division by 0", tok)
                return self.add("scale", (a,), tok, p, 1.0 / b)  # type: ignore[arg-type]
            inv = self.add("recip", (b,), tok, p)
            if isinstance(a, float):
                return inv if a == 1 else self.add("scale", (inv,), tok, p, a)
            return self.add("mul", (a, inv), tok, p)
        if kind in ("max", "min") and (isinstance(a, float) or isinstance(b, float)):
            x, c = (b, a) if isinstance(a, float) else (a, b)
            if kind == "max" and c == 0:
                return self.add("relu", (x,), tok, p)  # type: ignore[arg-type]
            raise p.fail(f"{kind} with a number: only max(x, 0), the ReLU, is a gate", tok)
        if kind == "mul" and (isinstance(a, float) or isinstance(b, float)):
            x, c = (b, a) if isinstance(a, float) else (a, b)
            return self.add("scale", (x,), tok, p, c)  # type: ignore[arg-type]
        if kind in ("add", "sub") and isinstance(b, float):
            return self.add("shift", (a,), tok, p, b if kind == "add" else -b)  # type: ignore[arg-type]
        if kind in ("add", "sub") and isinstance(a, float):
            x = b if kind == "add" else self.add("neg", (b,), tok, p)  # type: ignore[arg-type]
            return self.add("shift", (x,), tok, p, a)  # type: ignore[arg-type]
        return self.add(kind, (a, b), tok, p)  # type: ignore[arg-type]

    def rename(self, old: str, new: str) -> None:
        self.nodes = [Node(new if n.name == old else n.name, n.kind, tuple(new if i == old else i for i in n.inputs),
                           n.const) for n in self.nodes]


def _check_name(name: str, tok: _Tok, p: _Parser) -> None:
    if name in RESERVED or not NAME.match(name):
        raise p.fail(f"{name!r} cannot name a value (lower-case letters and digits, at most 8, starting with a "
                     f"letter; not {', '.join(sorted(RESERVED))})", tok)
    if name.startswith("d"):
        raise p.fail(f"{name!r} starts with d, which names gradients (dx is the gradient of x)", tok)


_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*=(?!=)")


def parse_function(text: str, variables: tuple[str, ...] | None = None) -> Circuit:
    """The circuit of an expression, or of lines `name = expression` (the last the output). Raises
    ExpressionError with the line and column of the problem."""
    b = _Builder(variables)
    lines = [(i, ln) for i, ln in enumerate(text.split("\n"), start=1) if ln.strip()]
    if not lines:
        raise ExpressionError("empty expression", 1, 1)
    for k, (i, ln) in enumerate(lines):
        m = _LINE.match(ln)
        name, body, offset = None, ln, 0
        if m:
            name, offset = m[1], m.end()
            body = ln[offset:]
        elif k < len(lines) - 1:
            raise ExpressionError("every line but the last must be `name = expression`", i, 1)
        p = _Parser(b, body, i)
        for tok in p.toks:
            tok.column += offset  # columns within the whole line
        before = len(b.nodes)
        value = p.parse()
        if isinstance(value, float):
            raise ExpressionError("a number alone is not a gate", i, offset + 1)
        if name is not None:
            col = ln.index(name) + 1
            tok = _Tok("name", name, col)
            if name in b.defined or name in b.variables:
                raise ExpressionError(f"{name!r} is defined twice", i, col)
            _check_name(name, tok, p)
            if variables is not None and name in variables:
                raise ExpressionError(f"{name!r} is a variable, not a gate", i, col)
            if len(b.nodes) == before:
                raise ExpressionError(f"{name} = {value} names a value that already has a name", i, col)
            b.rename(value, name)
            b.defined.add(name)
        elif value in b.variables:
            raise ExpressionError("the function is a variable alone: it needs at least one gate", i, 1)
    generated = [n.name for n in b.nodes[:-1] if re.fullmatch(r"q\d+", n.name) and n.name not in b.defined]
    if generated == ["q1"] and "q" not in b.variables and "q" not in b.defined:
        b.rename("q1", "q")  # one unnamed gate before the output: cs231n's q
    out = b.nodes[-1].name
    if re.fullmatch(r"q\d+", out) and out[1:].isdigit() and "f" not in b.variables and "f" not in b.defined:
        b.rename(out, "f")
    b.defined.update(n.name for n in b.nodes)
    circuit = Circuit(tuple(variables) if variables is not None else tuple(b.variables), tuple(b.nodes), text.strip())
    used = {i for n in circuit.nodes for i in n.inputs}
    for n in circuit.nodes[:-1]:
        if n.name not in used:
            raise ExpressionError(f"{n.name!r} is computed but never used by the output", 1, 1)
    for v in circuit.variables:
        if v not in used:
            raise ExpressionError(f"variable {v!r} is not used", 1, 1)
    taken = set(circuit.names())
    for name in taken:
        if "d" + name in taken:
            raise ExpressionError(f"'d{name}' would name both a value and the gradient of {name!r}", 1, 1)
    return circuit
