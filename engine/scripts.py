"""Script tasks: a small Python subset interpreted by the engine itself, never run by Python.

A script is parsed with `ast`, and only these statements are accepted: assignments to names,
items (`a['k'] = …`, `a[0] = …`) and augmented assignments; `if`/`elif`/`else`; `for … in …`
over a value (bounded: no `while`); `break`, `continue`, `pass`; expression statements that call
a whitelisted list method (`append`, `extend`, `insert`, `remove`, `pop`, `clear`) or a dict
method (`update`, `pop`, `setdefault`, `clear`). Expressions are the engine's whitelisted
expressions (engine/expressions.py). Camunda's `execution.getVariable('x')` /
`execution.setVariable('x', value)` (`task.…` in a task listener) are read as the variable `x`. Names assigned by the script
become process variables, as SpiffWorkflow's Python scripts do; names starting with `_` are
refused. Each run is limited in steps and, with the expressions in it, in work and in the size
of every value it builds (engine/expressions.py: MAX_ITEMS, MAX_SIZE, WORK_BUDGET).
"""
from __future__ import annotations

import ast
import contextvars
import functools
from typing import Any, Callable, Mapping

from . import variable_limits as limits
from .errors import ExpressionError
from .expressions import MAX_ITEMS, WORK_BUDGET, _Builder, _budget, _describe, _Fail, charge, measure

MAX_STEPS = 100_000
_LIST_METHODS = {"append", "extend", "insert", "remove", "pop", "clear"}
_DICT_METHODS = {"update", "pop", "setdefault", "clear"}

Step = Callable[[dict, list], None]
_changed: contextvars.ContextVar[list] = contextvars.ContextVar("dalad_script_changed")  # containers changed in place


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Script:
    """A compiled script: `run(variables)` returns the variables after the script ran."""

    def __init__(self, source: str, body: list[Step]):
        self.source, self._body = source, body

    def run(self, variables: Mapping[str, Any]) -> dict:
        env = dict(variables)
        budget = [MAX_STEPS]
        token = _budget.set([WORK_BUDGET])  # one budget for the script and every expression in it
        changed: list = []
        changed_token = _changed.set(changed)
        try:
            for step in self._body:
                step(env, budget)
            # What the script leaves in the process must fit the limits as a whole (each piece
            # was counted when it went in, but a container may have taken many of them).
            for value in [v for k, v in env.items() if k not in variables or variables[k] is not v] + changed:
                measure(value)
        except _Fail as exc:
            raise ExpressionError(f"script failed: {exc}") from None
        except (_Break, _Continue):
            raise ExpressionError("'break' or 'continue' outside a loop") from None
        except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
            raise ExpressionError(f"script failed: {_describe(exc)}") from exc
        except (MemoryError, RecursionError):
            raise ExpressionError("script failed: it built a value too large") from None
        finally:
            _budget.reset(token)
            _changed.reset(changed_token)
        changed = {name: value for name, value in env.items() if variables.get(name) is not value}
        refused = limits.shape_problem(env) or limits.size_problem(changed)
        if refused:
            raise ExpressionError(f"script result refused: {refused}")
        return env


@functools.lru_cache(maxsize=1024)
def compile_script(source: str) -> Script:
    """Compile a script task's text at deploy time; raise ExpressionError naming the line."""
    tree, compiler = _parsed(source)
    return Script(source, [compiler.statement(node) for node in tree.body])


_VALUE = "\x00value"  # where a value script leaves its value (no script can name it)


@functools.lru_cache(maxsize=1024)
def compile_value_script(source: str) -> Script:
    """Compile a script whose value is its last line's, an expression (a Python script in a
    camunda:inputParameter or outputParameter, as JSR-223 engines give the last expression's value):
    `amount * 2`, or statements and then `total`. Names it assigns stay in the script."""
    tree, compiler = _parsed(source)
    *statements, last = tree.body
    if not isinstance(last, ast.Expr):
        compiler.fail("the script's last line must be an expression: its value is the parameter's", last)
    value = compiler.expression(last.value)

    def keep(env, budget):
        _tick(budget)
        env[_VALUE] = value(env)
    return Script(source, [*(compiler.statement(node) for node in statements), keep])


def script_value(script: Script, variables: Mapping[str, Any]) -> Any:
    """What a value script (compile_value_script) gives with these variables."""
    return script.run(variables)[_VALUE]


def _parsed(source: str) -> tuple[ast.Module, "_Compiler"]:
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("empty script")
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid syntax at line {exc.lineno}: {exc.msg}") from None
    lines = source.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)

    def locate(node: Any, at_attr: bool) -> int:
        return starts[node.lineno - 1] + node.col_offset

    return tree, _Compiler(source, _Builder(source, False, locate), locate)


class _Compiler:
    def __init__(self, source: str, builder: _Builder, locate):
        self.source, self.builder, self.locate = source, builder, locate

    def fail(self, message: str, node: ast.AST) -> None:
        raise ExpressionError(f"{message} at line {node.lineno}, column {node.col_offset + 1}")

    def expression(self, node: ast.AST):
        return self.builder.build(_camunda_calls(self, node))

    def statement(self, node: ast.stmt) -> Step:
        method = getattr(self, f"_{type(node).__name__.lower()}", None)
        if method is None:
            self.fail(f"'{type(node).__name__}' statement is not allowed in a script", node)
        return method(node)

    def _block(self, nodes: list[ast.stmt]) -> list[Step]:
        return [self.statement(n) for n in nodes]

    def _pass(self, node):
        return lambda env, budget: None

    def _break(self, node):
        def stop(env, budget):
            raise _Break()
        return stop

    def _continue(self, node):
        def skip(env, budget):
            raise _Continue()
        return skip

    def _assign(self, node: ast.Assign) -> Step:
        value = self.expression(node.value)
        targets = [self._target(t) for t in node.targets]

        def assign(env, budget):
            _tick(budget)
            result = value(env)
            for target in targets:
                target(env, result)
        return assign

    def _augassign(self, node: ast.AugAssign) -> Step:
        combined = self.expression(ast.copy_location(ast.BinOp(left=_load(node.target), op=node.op,
                                                               right=node.value), node))
        target = self._target(node.target)

        def augment(env, budget):
            _tick(budget)
            target(env, combined(env))
        return augment

    def _target(self, node: ast.AST) -> Callable[[dict, Any], None]:
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                self.fail(f"name {node.id!r} is not allowed", node)
            name = node.id
            return lambda env, value: env.__setitem__(name, value)
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
            container, key = self.expression(node.value), self.expression(node.slice)

            def store(env, value):
                target = container(env)
                if type(target) not in (dict, list):
                    raise _Fail(f"cannot assign an item of {type(target).__name__}")
                charge(measure(value, not_in=target))
                target[key(env)] = value
                _check_length(target)
            return store
        self.fail("only names and items can be assigned", node)

    def _if(self, node: ast.If) -> Step:
        test, body, orelse = self.builder.test(node.test), self._block(node.body), self._block(node.orelse)

        def branch(env, budget):
            _tick(budget)
            for step in (body if test(env) else orelse):
                step(env, budget)
        return branch

    def _for(self, node: ast.For) -> Step:
        if node.orelse:
            self.fail("'for … else' is not allowed", node)
        iterable, target, body = self.expression(node.iter), self._target(node.target), self._block(node.body)

        def loop(env, budget):
            items = iterable(env)
            if type(items) not in (list, tuple, dict, str):
                raise _Fail(f"cannot loop over {type(items).__name__}")
            charge(1 + len(items) // 8)
            for item in list(items):
                _tick(budget)
                target(env, item)
                try:
                    for step in body:
                        step(env, budget)
                except _Break:
                    break
                except _Continue:
                    continue
        return loop

    def _expr(self, node: ast.Expr) -> Step:
        call = node.value
        if isinstance(call, ast.Call) and _is_execution(call.func, "setVariable"):
            if len(call.args) != 2 or not isinstance(call.args[0], ast.Constant) or \
                    not isinstance(call.args[0].value, str):
                self.fail("execution.setVariable takes a constant name and a value", node)
            return self._assign(ast.copy_location(ast.Assign(targets=[ast.copy_location(
                ast.Name(id=call.args[0].value, ctx=ast.Store()), call)], value=call.args[1]), node))
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr in _LIST_METHODS | _DICT_METHODS and not call.keywords):
            self.fail("a statement must assign, or call a list or dict method such as append", node)
        owner, method = self.expression(call.func.value), call.func.attr
        args = [self.expression(a) for a in call.args]

        def mutate(env, budget):
            _tick(budget)
            target = owner(env)
            allowed = _LIST_METHODS if type(target) is list else _DICT_METHODS if type(target) is dict else set()
            if method not in allowed:
                raise _Fail(f"{type(target).__name__} has no method {method!r} here")
            values = [a(env) for a in args]
            for value in values:  # what goes in is counted, and may not be the container itself
                charge(measure(value, not_in=target))
            getattr(target, method)(*values)
            _check_length(target)
        return mutate


def _tick(budget: list) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise _Fail(f"script ran more than {MAX_STEPS} steps")
    charge(8)


def _check_length(container) -> None:
    changed = _changed.get()
    if not changed or changed[-1] is not container:
        changed.append(container)
    if len(container) > MAX_ITEMS:
        raise _Fail(f"a {type(container).__name__} of more than {MAX_ITEMS:,} items is not allowed")


def _load(node: ast.AST) -> ast.AST:
    copy = ast.parse(ast.unparse(node), mode="eval").body
    return ast.copy_location(copy, node)


def _is_execution(func: ast.AST, method: str) -> bool:
    """`execution.<method>`, or `task.<method>` (a task listener's script names the task so)."""
    return (isinstance(func, ast.Attribute) and func.attr == method and isinstance(func.value, ast.Name)
            and func.value.id in ("execution", "task"))


def _camunda_calls(compiler: _Compiler, node: ast.AST) -> ast.AST:
    """execution.getVariable('x') is the variable x."""
    class Rewrite(ast.NodeTransformer):
        def visit_Call(self, call):
            self.generic_visit(call)
            if _is_execution(call.func, "getVariable"):
                if len(call.args) != 1 or not isinstance(call.args[0], ast.Constant) or \
                        not isinstance(call.args[0].value, str):
                    compiler.fail("execution.getVariable takes a constant name", call)
                return ast.copy_location(ast.Name(id=call.args[0].value, ctx=ast.Load()), call)
            return call
    return Rewrite().visit(node)
