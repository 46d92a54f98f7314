"""A multipart form part without a name (`Content-Disposition: form-data` alone), found by
tests/fuzz on POST /deployment/create: the NUL check of every request (web/unstorable_text.py) read the
missing name as text and answered 500, on every page that takes a form. The deployment is a 400
saying so, and nothing is deployed; a page's form with such a part is no server error either."""
from __future__ import annotations

from test_rest_helpers import BASE, error_of, rest  # noqa: F401

BOUNDARY = "dalad-boundary"
NAMELESS = (f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\n<definitions/>\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"deployment-name\"\r\n\r\nnameless\r\n"
            f"--{BOUNDARY}--\r\n").encode()


def post_form(api, path: str):
    return api.client.post(path, data=NAMELESS, content_type=f"multipart/form-data; boundary={BOUNDARY}",
                           headers=api._headers())


def test_a_form_part_without_a_name_is_refused_and_nothing_is_deployed(rest):
    admin = rest.as_("admin")
    before = admin.get("/deployment/count").get_json()["count"]
    message = error_of(post_form(admin, BASE + "/deployment/create"), 400, "InvalidRequestException")
    assert "a part of the form has no name" in message
    assert admin.get("/deployment/count").get_json()["count"] == before


def test_a_page_form_with_a_nameless_part_is_no_server_error(rest):
    response = post_form(rest.anonymous, "/login")
    assert response.status_code < 500, response.status_code
