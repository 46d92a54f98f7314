"""A bureau's inbox over REST (`/task?candidateGroup=…`, `/task/count`) is read from the group's
inbox rows in `task_candidate`, in order from one index: the rows follow every claim, hand-back,
completion and cancellation made through the API. review.bpmn: `submit` goes to unit:<unit>,
then office when the amount is below 1000."""
from __future__ import annotations

from datetime import timedelta

import pytest

from test_rest_helpers import deployed, rest, start  # noqa: F401

EDU = {"candidateGroup": "unit:edu"}


@pytest.fixture
def review(rest, frozen_clock):
    rest.definitions = deployed(rest, "review.bpmn")
    rest.instances = []
    for n in range(3):
        rest.instances.append(start(rest, "review", business_key=f"P-{n}", unit="edu")["id"])
        frozen_clock.advance(timedelta(minutes=1))
    return rest


def inbox(api, **query) -> list[str]:
    return [t["processInstanceId"] for t in api.get("/task", **{**EDU, "maxResults": 50, **query}).get_json()]


def count(api, **query) -> int:
    return api.get("/task/count", **{**EDU, **query}).get_json()["count"]


def test_the_bureau_inbox_follows_claims_completions_and_cancellations(review):
    edu, edu2, admin = review.as_("edu"), review.as_("edu2"), review.as_("admin")
    first, second, third = review.instances
    assert inbox(edu) == [first, second, third] and count(edu) == 3
    assert inbox(edu, firstResult=1, maxResults=1) == [second]
    [task] = edu.get("/task", processInstanceId=second).get_json()

    assert edu.post(f"/task/{task['id']}/claim", {"userId": "edu"}).status_code == 204
    assert inbox(edu2) == [first, third] and count(edu2) == 2  # claimed: out of the bureau's inbox
    assert inbox(edu2, includeAssignedTasks="true") == [first, second, third]
    assert count(edu2, includeAssignedTasks="true") == 3
    assert edu.post(f"/task/{task['id']}/unclaim").status_code == 204
    assert inbox(edu2) == [first, second, third] and count(edu2) == 3

    response = edu.post(f"/task/{task['id']}/complete", {"variables": {"amount": {"value": 500}}})
    assert response.status_code == 204
    assert inbox(edu) == [first, third] and count(edu) == 2
    office = review.as_("office")
    assert inbox(office, candidateGroup="office") == [second] and count(office, candidateGroup="office") == 1

    assert admin.delete(f"/process-instance/{first}").status_code == 204
    assert inbox(edu) == [third] and count(edu) == 1
    assert inbox(admin) == [third] and count(review.as_("auditor")) == 1  # who reads all sees the same
    assert inbox(review.as_("drc")) == [] and count(review.as_("drc")) == 0  # not drc's bureau

