"""camunda:inputOutput: input parameters are the activity's own variables while it runs (hiding
a process variable of the same name), output parameters set process variables at its end."""
from conftest import deploy_files
from engine import replay, services


def test_inputs_are_local_outputs_are_mapped_and_hidden_variables_come_back(db, frozen_clock):
    deploy_files(db, "local_scope.bpmn")
    with db.write() as s:
        row = services.start_process(s, "local_scope", variables={"requested": 1000, "unit": "unit:edu",
                                                                   "stage": "可研"})
        visible = row.variables
    assert visible["ceiling"] == 1100.0 and visible["note"] == "只读说明"   # the form sees them
    assert visible["checks"] == ["预算", "unit:edu"] and visible["stage"] == "核定"
    with db.read() as s:
        (task,) = services.tasks(s, instance_id=row.id)
    with db.write() as s:
        after = services.complete_task(s, task.id, user="f1", data={"checked_amount": 1050},
                                       check_access=False).variables
    assert after["approved_amount"] == 1050 and after["within_ceiling"] is True
    assert "ceiling" not in after and "note" not in after and "checks" not in after
    assert after["stage"] == "可研"  # the process variable the input hid is back
    with db.read() as s:
        chain, report = replay.verify(s, row.id)
    assert report.ok, report
