"""Deployments a process administrator could use to break the server, sent as Camunda Modeler
sends them (REST deployment/create): each is refused with a parse error naming its file, and
nothing is deployed."""
from __future__ import annotations

import pytest

from test_rest_helpers import diagram, modeler_deploy, rest  # noqa: F401


@pytest.mark.parametrize("content", [
    b"[" * 200_000,  # past the JSON reader's own recursion
    b'{"id": "deep", "components": ' + b"[" * 500 + b"]" * 500 + b"}",  # read, but deeper than any form
])
def test_a_form_nested_without_end_is_a_parse_error_naming_the_file(rest, content):
    response = modeler_deploy(rest.as_("admin"), "deep", diagram("review.bpmn"), [("deep.form", content)])
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["type"] == "ParseException"
    [error] = body["details"]["deep.form"]["errors"]
    assert "nested deeper than 64 levels" in error["message"]
    assert rest.as_("admin").get("/deployment").get_json() == []
