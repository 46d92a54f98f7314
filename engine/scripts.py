"""Script tasks: a small Python subset interpreted by the engine itself, never run by Python.

A script is parsed with `ast`, and only these statements are accepted: assignments to names,
items (`a['k'] = …`, `a[0] = …`) and augmented assignments; `if`/`elif`/`else`; `for … in …`
over a value (bounded: no `while`); `break`, `continue`, `pass`; expression statements that call
a whitelisted list method (`append`, `extend`, `insert`, `remove`, `pop`, `clear`) or a dict
method (`update`, `pop`, `setdefault`, `clear`). Expressions are the engine's whitelisted
expressions (engine/expressions.py). Camunda's `execution.getVariable('x')` /
`execution.setVariable('x', value)` (`task.…` and `task.getExecution().…` in a task listener)
are read as the variable `x`. In a task's create listener (foreign.py marks it with a last line
`# dalad:create-listener {facts}`: the task's id and attributes as the diagram gives them) the
script may also change the task as Camunda's DelegateTask does (`task.setAssignee(u)`,
`task.addCandidateGroup(g)`, `task.setDueDate(d)`, … and their getters, see TASK_METHODS): the
changes are recorded under TASK_CHANGES, which no script or expression can name, and the task's
creation applies them (engine/instances.py). Names assigned by the script become process
variables, as SpiffWorkflow's Python scripts do; names starting with `_` are refused. Each run
is limited in steps and, with the expressions in it, in work and in the size of every value it
builds (engine/expressions.py: MAX_ITEMS, MAX_SIZE, WORK_BUDGET).
"""
from __future__ import annotations

import ast
import contextvars
import functools
import json
from datetime import date, datetime
from typing import Any, Callable, Mapping, Optional

from . import variable_limits as limits
from .errors import ExpressionError
from .expressions import (MAX_ITEMS, WORK_BUDGET, _Builder, _budget, _describe, _Fail, _parse_temporal, _work, charge,
                          compile_template, measure, text_of)

MAX_STEPS = 100_000
_LIST_METHODS = {"append", "extend", "insert", "remove", "pop", "clear"}
_DICT_METHODS = {"update", "pop", "setdefault", "clear"}
_SHIFTING = {"insert", "remove", "pop"}  # list methods whose work grows with the list (pop with an index)

TASK_CHANGES = "dalad:task"  # what a create listener changed of its task (not a name a script can write)
LISTENER_MARK = "# dalad:create-listener "  # a create listener's last line: its task's facts (JSON)
# DelegateTask's methods a create listener may call: setters (the field they change), candidate
# changes (add/delete, group/user, a list or one), getters (the field they read).
_TASK_SETTERS = {"setAssignee": "assignee", "setDueDate": "due", "setFollowUpDate": "followUp",
                 "setPriority": "priority", "setName": "name", "setDescription": "description"}
_TASK_CANDIDATES = {"addCandidateGroup": ("add", "group", False), "addCandidateGroups": ("add", "group", True),
                    "addCandidateUser": ("add", "user", False), "addCandidateUsers": ("add", "user", True),
                    "deleteCandidateGroup": ("delete", "group", False), "deleteCandidateUser": ("delete", "user", False)}
_TASK_GETTERS = {"getAssignee": "assignee", "getDueDate": "due", "getFollowUpDate": "followUp",
                 "getPriority": "priority", "getName": "name", "getDescription": "description",
                 "getTaskDefinitionKey": "key"}
_TASK_REFUSED = {
    "getId": "the task gets its id when it is created, after its create listeners",
}
TASK_METHODS = sorted([*_TASK_SETTERS, *_TASK_CANDIDATES, *_TASK_GETTERS, "getExecution", "getVariable",
                       "setVariable"])
_LIMITS = {"assignee": 100, "name": 300, "group": 200, "user": 100}  # the inbox row's columns
_MAX_DESCRIPTION = 4000  # characters, as Camunda 7's task table holds

Step = Callable[[dict, list], None]
_changed: contextvars.ContextVar[list] = contextvars.ContextVar("dalad_script_changed")  # containers changed in place


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Script:
    """A compiled script: `run(variables)` returns the variables after the script ran."""

    def __init__(self, source: str, body: list[Step], facts: Optional[dict] = None,
                 task_methods: frozenset = frozenset()):
        self.source, self._body, self.facts, self.task_methods = source, body, facts, task_methods

    def run(self, variables: Mapping[str, Any]) -> dict:
        env = _TaskEnv(variables, self.facts) if self.facts is not None else dict(variables)
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


def _not_too_deep(compile_: Callable[[str], Script]) -> Callable[[str], Script]:
    """`compile_`, with a script nested past the interpreter's stack (`1 + 1 + … + 1`) refused."""
    @functools.wraps(compile_)
    def checked(source: str) -> Script:
        try:
            return compile_(source)
        except (RecursionError, MemoryError):
            raise ExpressionError("script is nested too deeply") from None
    return checked


@functools.lru_cache(maxsize=1024)
@_not_too_deep
def compile_script(source: str) -> Script:
    """Compile a script task's text at deploy time; raise ExpressionError naming the line. A
    create listener's (LISTENER_MARK on its last line) may change its task."""
    tree, compiler = _parsed(source)
    *_, last = source.rstrip().rsplit("\n", 1)
    if last.startswith(LISTENER_MARK):
        try:
            compiler.facts = json.loads(last[len(LISTENER_MARK):])
        except ValueError:
            raise ExpressionError(f"invalid '{LISTENER_MARK.strip()}' line") from None
    body = [compiler.statement(node) for node in tree.body]
    return Script(source, body, compiler.facts, frozenset(compiler.task_methods))


def listener_source(script: str, facts: dict) -> str:
    """A create listener's script with its task's facts (`key`: the task's id; `name`, `assignee`,
    `priority`, `due`, `followUp`, `description`: its attributes and documentation as the diagram
    writes them, None if absent)."""
    return f"{script.rstrip()}\n{LISTENER_MARK}{json.dumps(facts, ensure_ascii=False)}"


class _TaskEnv(dict):
    """A create listener's variables, where `dalad:task.<field>` reads its task's field: as the
    listener (or one before it) set it, else as the diagram gives it."""

    def __init__(self, variables: Mapping[str, Any], facts: dict):
        super().__init__(variables)
        self.facts = facts

    def __missing__(self, name: str):
        prefix, _, field = name.partition(".")
        if prefix != TASK_CHANGES or not field:
            raise KeyError(name)
        changes = dict.get(self, TASK_CHANGES) or {}
        if field in changes and changes.get("key") == self.facts.get("key"):
            value = changes[field]
        else:
            value = self.facts.get(field)
            if isinstance(value, str) and ("${" in value or "#{" in value):
                value = compile_template(value).evaluate(dict(self))
                if field in ("name", "description"):
                    value = text_of(value)
        if field == "priority":
            return 50 if value in (None, "") else int(value)
        if field in ("due", "followUp") and isinstance(value, str):
            return _parse_temporal(value) or value
        return value


_VALUE = "\x00value"  # where a value script leaves its value (no script can name it)


@functools.lru_cache(maxsize=1024)
@_not_too_deep
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
        self.facts: Optional[dict] = None  # a create listener's task (compile_script)
        self.task_methods: set[str] = set()  # the task's methods the script calls

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
        test = self.builder.test(_camunda_calls(self, node.test))
        body, orelse = self._block(node.body), self._block(node.orelse)

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
        if isinstance(call, ast.Call) and _is_task(call.func) and \
                call.func.attr not in ("setVariable", "getVariable"):
            return self._task_call(call)
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
            if method in _SHIFTING and type(target) is list and (values or method != "pop"):
                charge(_work(target))  # each looks at or moves the items after its place
            getattr(target, method)(*values)
            _check_length(target)
        return mutate


    def task_method(self, call: ast.Call) -> str:
        """The DelegateTask method `call` names, if this script may call it (else fail)."""
        method = call.func.attr
        if method in _TASK_REFUSED:
            self.fail(f"task.{method}() cannot be used in a Python task listener: {_TASK_REFUSED[method]}", call)
        if method not in TASK_METHODS:
            self.fail(f"task.{method}() is not supported in a Python task listener (supported: "
                      f"{', '.join(m + '()' for m in TASK_METHODS)})", call)
        if self.facts is None and method not in ("getExecution", "getVariable", "setVariable"):
            self.fail(f"task.{method}() works in a user task's create listener only", call)
        if call.keywords:
            self.fail(f"task.{method}() takes no keyword arguments", call)
        self.task_methods.add(method)
        return method

    def _task_call(self, call: ast.Call) -> Step:
        """task.setAssignee(…) and the other changes of a create listener's task (TASK_CHANGES)."""
        method = self.task_method(call)
        if method not in _TASK_SETTERS and method not in _TASK_CANDIDATES:
            self.fail(f"task.{method}() gives a value: use it in an expression", call)
        if len(call.args) != 1:
            self.fail(f"task.{method}() takes one argument", call)
        value, key = self.expression(call.args[0]), self.facts.get("key")

        def change(env, budget):
            _tick(budget)
            before = dict.get(env, TASK_CHANGES) or {}
            changes = {**(before if before.get("key") == key else {}), "key": key}
            if method in _TASK_SETTERS:
                field = _TASK_SETTERS[method]
                changes[field] = _task_value(method, field, value(env))
            else:
                op, kind, many = _TASK_CANDIDATES[method]
                names = value(env)
                if many and type(names) not in (list, tuple):
                    raise _Fail(f"task.{method}() takes a list of {kind} names")
                names = [_task_value(method, kind, n) for n in (names if many else [names])]
                changes["candidates"] = [*changes.get("candidates", []), *([op, kind, n] for n in names)]
            env[TASK_CHANGES] = changes
        return change


def _task_value(method: str, field: str, value: Any) -> Any:
    """What a task setter records: plain JSON, checked as the task's columns take it."""
    if field == "priority":
        if type(value) is not int or not -2**31 <= value < 2**31:
            raise _Fail(f"task.{method}() takes a whole number, not {_describe_value(value)}")
        return value
    if field in ("due", "followUp"):
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, date):  # a day: due at its end, as a diagram's date is
            return datetime(value.year, value.month, value.day, 23, 59, 59).isoformat()
        if isinstance(value, str) and (_parse_temporal(value) is not None or value.strip().upper().startswith("P")):
            return value.strip()
        raise _Fail(f"task.{method}() takes a date, a datetime or ISO 8601 text, not {_describe_value(value)}")
    if field == "description":  # text as written, line breaks and all; None: no description
        if value is not None and type(value) is not str:
            raise _Fail(f"task.{method}() takes a text, not {_describe_value(value)}")
        if value is not None and len(value) > _MAX_DESCRIPTION:
            raise _Fail(f"task.{method}() takes at most {_MAX_DESCRIPTION} characters")
        return value
    if value is None and field == "assignee":
        return None
    if type(value) not in (str, int) or not str(value).strip():
        raise _Fail(f"task.{method}() takes a {'user id' if field in ('assignee', 'user') else 'text'}, "
                    f"not {_describe_value(value)}")
    text = str(value).strip()
    if len(text) > _LIMITS.get(field, 300):
        raise _Fail(f"task.{method}() takes at most {_LIMITS.get(field, 300)} characters")
    return text


def _describe_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


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
    """`execution.<method>`, or `task.<method>` or `task.getExecution().<method>` (a task
    listener's script names the task so)."""
    if not (isinstance(func, ast.Attribute) and func.attr == method):
        return False
    owner = func.value
    if isinstance(owner, ast.Call) and _is_task(owner.func) and owner.func.attr == "getExecution" and not owner.args:
        return True
    return isinstance(owner, ast.Name) and owner.id in ("execution", "task")


def _is_task(func: ast.AST) -> bool:
    """A call of one of the task's methods: `task.<method>` (not a list or dict method of a
    variable that happens to be named `task`)."""
    return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "task"
            and func.attr not in _LIST_METHODS | _DICT_METHODS)


def _camunda_calls(compiler: _Compiler, node: ast.AST) -> ast.AST:
    """execution.getVariable('x') is the variable x; in a create listener task.getAssignee() is
    the task's assignee (the name `dalad:task.assignee`, read by _TaskEnv)."""
    class Rewrite(ast.NodeTransformer):
        def visit_Call(self, call):
            self.generic_visit(call)
            if _is_task(call.func) and call.func.attr not in ("getVariable", "setVariable"):
                method = compiler.task_method(call)
                if method == "getExecution":
                    return call  # as the owner of getVariable (else refused as a value below)
                if method not in _TASK_GETTERS:
                    compiler.fail(f"task.{method}() changes the task: call it as a statement", call)
                if call.args:
                    compiler.fail(f"task.{method}() takes no arguments", call)
                return ast.copy_location(ast.Name(id=f"{TASK_CHANGES}.{_TASK_GETTERS[method]}", ctx=ast.Load()), call)
            if _is_execution(call.func, "getVariable"):
                if len(call.args) != 1 or not isinstance(call.args[0], ast.Constant) or \
                        not isinstance(call.args[0].value, str):
                    compiler.fail("execution.getVariable takes a constant name", call)
                return ast.copy_location(ast.Name(id=call.args[0].value, ctx=ast.Load()), call)
            return call
    return Rewrite().visit(node)
