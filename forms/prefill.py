"""What a task form shows when it opens.

A form is filled only from what belongs to its own task:
- the task's draft, saved by the same official (input fields);
- the process variables a field is bound to, read from the task's own branch (its
  multi-instance element, its called process), never from a sibling's: a readonly field shows
  the variable of its id, a field whose default is an expression (`${project_name}`) shows that
  expression's value;
- else the field's plain default.

An input field is never filled from a variable merely because an earlier task wrote one with the
same name: a second review does not open with the first one's decision, a re-review not with its
own earlier "退回修改". The values an earlier step submitted are shown in the 办件 instead.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from engine.errors import ExpressionError
from engine.expressions import compile_template

from .fields import FieldSpec
from .schemas import as_text


def initial_values(specs: list[FieldSpec], draft: Optional[Mapping[str, Any]],
                   branch: Optional[Mapping[str, Any]]) -> dict[str, str]:
    """The text of each field as the form opens (`branch`: the task's own variables, or None)."""
    values = {}
    for spec in specs:
        if draft is not None and spec.id in draft and not spec.readonly:
            values[spec.id] = str(draft[spec.id])
        elif branch is not None and spec.binding:
            values[spec.id] = as_text(spec, _bound(spec.binding, branch))
        elif branch is not None and spec.readonly and spec.id in branch:
            values[spec.id] = as_text(spec, branch[spec.id])
        else:
            values[spec.id] = as_text(spec, spec.default)
    return values


def _bound(expression: str, variables: Mapping[str, Any]) -> Any:
    try:
        return compile_template(expression).evaluate(variables)
    except ExpressionError:  # a variable not set yet on this branch: the field opens empty
        return None
