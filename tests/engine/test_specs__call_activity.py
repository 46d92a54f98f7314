"""Call activities pass exactly what camunda:in / camunda:out map (nothing by default, as in
Camunda 7), and may call a process deployed earlier in another bundle."""
import pytest

from conftest import deploy_files
from engine import audit, history, replay, services
from engine.errors import DefinitionInvalid, TaskNotReady


def _run(db, instance_id, decisions):
    seen = []
    for decision in decisions:
        with db.read() as s:
            (task,) = services.tasks(s, instance_id=instance_id)
        seen.append(task.name)
        with db.write() as s:
            services.complete_task(s, task.id, user="drc1", data={"decision": decision, "note": "x"},
                                   check_access=False)
    return seen


@pytest.mark.parametrize("bundles", [[("stage_review.bpmn", "two_stages.bpmn")],
                                     [("stage_review.bpmn",), ("two_stages.bpmn",)]],
                         ids=["one bundle", "called process deployed before"])
def test_mappings_decide_what_goes_in_and_comes_out(db, frozen_clock, bundles):
    for names in bundles:
        deploy_files(db, *names)
    with db.write() as s:
        instance_id = services.start_process(s, "two_stages", variables={"project_name": "智慧教育",
                                                                         "secret": "s"}).id
    names = _run(db, instance_id, ["同意", "修改", "不同意"])
    # stage went into the first call only (it never came out), so the later calls name no stage
    assert names == ["审批可研", "审批", "审批"]
    with db.read() as s:
        variables = services.instance(s, instance_id).variables
        chain, report = replay.verify(s, instance_id)
    assert variables["feasibility_decision"] == "同意"
    assert variables["design_decision"] == "修改"
    assert "decision" not in variables and "note" not in variables  # only mapped outputs come back
    assert report.ok, report


def test_a_called_process_that_is_nowhere_is_refused_at_deploy(db):
    with pytest.raises(DefinitionInvalid, match="stage_review"):
        deploy_files(db, "two_stages.bpmn")


def test_a_called_version_pinned_in_a_bundle_that_deploys_the_called_process_is_refused(db):
    """A deployment runs one version of each called process: binding 'version' to a process the
    bundle deploys, or calls of one process pinned differently, are refused naming each element."""
    from conftest import DIAGRAMS
    from engine.definitions import BundleFile
    source = (DIAGRAMS / "two_stages.bpmn").read_text(encoding="utf-8").replace(
        'calledElement="stage_review">', 'calledElement="stage_review" camunda:calledElementBinding="version" '
                                         'camunda:calledElementVersion="1">', 1)
    with pytest.raises(DefinitionInvalid) as refused:
        with db.write() as s:
            services.deploy(s, [BundleFile("two_stages.bpmn", source.encode()),
                                BundleFile("stage_review.bpmn", (DIAGRAMS / "stage_review.bpmn").read_bytes())], name="x")
    message = str(refused.value)
    assert "element 'feasibility_review' (callActivity): calls stage_review version 1, but this deployment deploys " \
           "stage_review itself: deploy stage_review first" in message
    assert "element 'design_review' (callActivity): calls the latest stage_review, where another call activity of " \
           "this deployment calls version 1: a deployment runs one version of each called process" in message


def _calls(session, root_id):
    from sqlalchemy import select

    from engine.models import ProcessInstance
    return [(r.process_key, r.status, r.super_instance_id) for r in session.scalars(
        select(ProcessInstance).where(ProcessInstance.root_instance_id == root_id).order_by(ProcessInstance.id))]


def test_each_call_is_an_instance_of_its_own_that_a_withdrawal_ends(db, frozen_clock):
    """A call's instance ends when the step before it is taken back, and a new one runs when it is
    done again; the tasks name their call's instance, and the history proves the rows."""
    deploy_files(db, "stage_review.bpmn", "prepare_then_review.bpmn")
    with db.write() as s:
        root = services.start_process(s, "prepare_then_review", variables={"stage": "可研"}).id
    with db.read() as s:
        (prepare,) = services.tasks(s, instance_id=root)
        assert prepare.called_instance_id is None and _calls(s, root) == []
    with db.write() as s:
        services.complete_task(s, prepare.id, user="drc1", data={}, check_access=False)
    with db.read() as s:
        (approve,) = services.tasks(s, instance_id=root)
        assert _calls(s, root) == [("stage_review", "running", root)]
        called = services.instance(s, approve.called_instance_id)
        assert (called.process_key, called.variables["stage"], called.state) == ("stage_review", "可研", "")
        assert replay.verify(s, called.id)[1].instance_id == root  # proved with its root
    with db.write() as s:
        services.withdraw_task(s, prepare.id, user="drc1")
    with db.read() as s:
        assert _calls(s, root) == [("stage_review", "terminated", root)]
        assert [t.id for t in services.tasks(s, instance_id=root)] == [prepare.id]
        chain, report = replay.verify(s, root)
        assert chain.ok and report.ok, report
    with db.write() as s:
        services.complete_task(s, prepare.id, user="drc1", data={}, check_access=False)
    with db.read() as s:
        assert _calls(s, root) == [("stage_review", "terminated", root), ("stage_review", "running", root)]
        (approve,) = services.tasks(s, instance_id=root)
    with db.write() as s:
        services.complete_task(s, approve.id, user="drc1", data={"decision": "同意", "note": "x"},
                               check_access=False)
    with db.read() as s:
        assert _calls(s, root) == [("stage_review", "terminated", root), ("stage_review", "completed", root)]
        assert services.instance(s, root).status == "completed"
        chain, report = replay.verify(s, root)
        assert chain.ok and report.ok, report
        assert audit.check_creations(s).ok  # each called instance's creation is in the system chain
        assert audit.instances_to_verify(s) == [root]  # verify --all proves the called ones with their root


def test_each_instance_of_a_multi_instance_call_is_an_instance_of_its_own(db, frozen_clock):
    deploy_files(db, "stage_review.bpmn", "review_each.bpmn")
    with db.write() as s:
        root = services.start_process(s, "review_each", variables={"stages": ["可研", "初设"]}).id
    with db.read() as s:
        (prepare,) = services.tasks(s, instance_id=root)
    with db.write() as s:
        services.complete_task(s, prepare.id, user="drc1", data={}, check_access=False)
    with db.read() as s:
        approvals = services.tasks(s, instance_id=root)
        called = {t.name: services.instance(s, t.called_instance_id) for t in approvals}
        assert sorted(called) == ["审批初设", "审批可研"]
        assert {c.variables["stage"] for c in called.values()} == {"可研", "初设"}
        assert {c.super_instance_id for c in called.values()} == {root} and len({c.id for c in called.values()}) == 2
    for task in approvals:
        with db.write() as s:
            services.complete_task(s, task.id, user="drc1", data={"decision": "同意", "note": "x"},
                                   check_access=False)
    with db.read() as s:
        assert _calls(s, root) == [("stage_review", "completed", root)] * 2
        chain, report = replay.verify(s, root)
        assert chain.ok and report.ok, report


def test_a_task_of_a_called_process_that_ended_cannot_be_taken_back(db, frozen_clock):
    deploy_files(db, "stage_review.bpmn", "two_stages.bpmn")
    with db.write() as s:
        root = services.start_process(s, "two_stages", variables={"project_name": "智慧教育"}).id
    with db.read() as s:
        (first,) = services.tasks(s, instance_id=root)
    with db.write() as s:
        services.complete_task(s, first.id, user="drc1", data={"decision": "同意", "note": "x"}, check_access=False)
    with pytest.raises(TaskNotReady, match="the called process it belongs to has ended"):
        with db.write() as s:
            services.withdraw_task(s, first.id, user="drc1")


# --- which version a call runs: Camunda's calledElementBinding "latest" ---------------------------

def _file(name: str, old: str = "", new: str = ""):
    from conftest import DIAGRAMS
    from engine.definitions import BundleFile
    return BundleFile(name, (DIAGRAMS / name).read_text(encoding="utf-8").replace(old, new).encode())


def _deploy(db, *files):
    with db.write() as s:
        return services.deploy(s, list(files), name="test", user="admin")


def _start(db, key: str) -> int:
    with db.write() as s:
        return services.start_process(s, key, variables={"stage": "可研"}).id


def _call(db, root: int):
    """Finish the root's 准备材料 (its call starts) and read the first task of the process it calls."""
    with db.read() as s:
        (prepare,) = services.tasks(s, instance_id=root)
    with db.write() as s:
        services.complete_task(s, prepare.id, user="drc1", data={}, check_access=False)
    return _called_now(db, root)


def _called_now(db, root: int):
    """(the name of the root's open task, the version of the called process it belongs to)."""
    with db.read() as s:
        (task,) = services.tasks(s, instance_id=root)
        called = services.instance(s, task.called_instance_id)
        return task.name, called.definition.version


def _called_task(db, key: str):
    """Start `key`, finish its 准备材料, and read the first task of the process it calls."""
    root = _start(db, key)
    return (root, *_call(db, root))


def test_a_call_runs_the_latest_version_deployed_when_it_starts(db, frozen_clock):
    """Camunda's calledElementBinding `latest` (the default) is resolved when the call starts:
    deploying the called process alone (the Modeler deploys one diagram) makes no new version of
    its callers, and an instance started before reaches its call on the new version; a call already
    running keeps the version it started on. The history records each call's version and replays."""
    _deploy(db, _file("stage_review.bpmn"), _file("prepare_then_review.bpmn"))
    waiting = _start(db, "prepare_then_review")
    running, name, version = _called_task(db, "prepare_then_review")
    assert (name, version) == ("审批可研", 1)
    result = _deploy(db, _file("stage_review.bpmn", 'name="审批${stage}"', 'name="复核${stage}"'))
    assert [(i.key, i.version, i.new) for i in result.items] == [("stage_review", 2, True)]
    assert result.warnings == []
    assert _call(db, waiting) == ("复核可研", 2)  # started on prepare_then_review 1, calls stage_review 2
    assert _called_now(db, running) == ("审批可研", 1)
    with db.read() as s:
        assert [(e["element_id"], e["data"]) for e in history.events_of(s, waiting) if e["type"] == "call_started"] \
            == [("review", {"process": "stage_review:2"})]
        assert replay.verify(s, waiting)[1].ok and replay.verify(s, running)[1].ok
    again = _deploy(db, _file("prepare_then_review.bpmn"))  # unchanged: no new version
    assert [(i.key, i.version, i.new) for i in again.items] == [("prepare_then_review", 1, False)]


def test_a_caller_bound_to_its_own_deployment_keeps_its_version(db, frozen_clock):
    binding = 'calledElement="stage_review"'
    _deploy(db, _file("stage_review.bpmn"), _file("prepare_then_review.bpmn", binding,
                                                  binding + ' camunda:calledElementBinding="deployment"'))
    result = _deploy(db, _file("stage_review.bpmn", 'name="审批${stage}"', 'name="复核${stage}"'))
    assert [(i.key, i.version, i.new) for i in result.items] == [("stage_review", 2, True)]
    assert _called_task(db, "prepare_then_review")[1:] == ("审批可研", 1)


def test_a_call_in_a_called_process_resolves_its_version_when_it_starts(db, frozen_clock):
    """outer calls prepare_then_review, which calls stage_review: each in a deployment of its own;
    a new stage_review deploys alone, and the call of it that starts afterwards runs it."""
    outer = _file("prepare_then_review.bpmn", 'id="prepare_then_review" name="准备后审查"', 'id="outer" name="外层"')
    outer = type(outer)("outer.bpmn", outer.content.replace(b'calledElement="stage_review"',
                                                            b'calledElement="prepare_then_review"'))
    _deploy(db, _file("stage_review.bpmn"))
    _deploy(db, _file("prepare_then_review.bpmn"))
    _deploy(db, outer)
    root = _start(db, "outer")
    result = _deploy(db, _file("stage_review.bpmn", 'name="审批${stage}"', 'name="复核${stage}"'))
    assert [(i.key, i.version) for i in result.items] == [("stage_review", 2)]
    for expected in ("准备材料", "准备材料", "复核可研"):
        with db.read() as s:
            (task,) = services.tasks(s, instance_id=root)
        assert task.name == expected
        if expected != "复核可研":
            with db.write() as s:
                services.complete_task(s, task.id, user="drc1", data={}, check_access=False)
    assert _called_now(db, root) == ("复核可研", 2)
    with db.read() as s:
        assert replay.verify(s, root)[1].ok


def test_a_caller_deployed_unchanged_beside_a_changed_called_process_calls_the_new_version(db, frozen_clock):
    """`dalad deploy bpmn/` after editing only the called diagram: the unchanged caller gets no new
    version, and its calls run the new called version."""
    _deploy(db, _file("stage_review.bpmn"), _file("prepare_then_review.bpmn"))
    result = _deploy(db, _file("stage_review.bpmn", 'name="审批${stage}"', 'name="复核${stage}"'),
                     _file("prepare_then_review.bpmn"))
    assert [(i.key, i.version, i.new) for i in result.items] == [
        ("stage_review", 2, True), ("prepare_then_review", 1, False)]
    assert _called_task(db, "prepare_then_review")[1:] == ("复核可研", 2)


def _pinned(binding: str, value: str):
    attribute = "calledElementVersion" if binding == "version" else "calledElementVersionTag"
    return _file("prepare_then_review.bpmn", 'calledElement="stage_review"',
                 f'calledElement="stage_review" camunda:calledElementBinding="{binding}" camunda:{attribute}="{value}"')


@pytest.mark.parametrize("binding, value, expected", [("version", "2", ("复核可研", 2)),
                                                      ("versionTag", "2026.1", ("复核可研", 2))])
def test_a_call_pinned_by_version_or_tag_runs_that_version_and_does_not_follow(db, frozen_clock, binding, value,
                                                                               expected):
    """Camunda's calledElementBinding 'version' and 'versionTag': the version named (the latest of
    the tag), whatever is deployed after; a new version of the called process leaves the caller."""
    tagged = ('id="stage_review" name="阶段审查" isExecutable="true"',
              'id="stage_review" name="阶段审查" isExecutable="true" camunda:versionTag="2026.1"')
    _deploy(db, _file("stage_review.bpmn"))
    second = _file("stage_review.bpmn", 'name="审批${stage}"', 'name="复核${stage}"')
    _deploy(db, type(second)(second.name, second.content.replace(tagged[0].encode(), tagged[1].encode())))
    _deploy(db, _pinned(binding, value))
    result = _deploy(db, _file("stage_review.bpmn", 'name="审批${stage}"', 'name="终审${stage}"'))
    assert [(i.key, i.version) for i in result.items] == [("stage_review", 3)] and result.warnings == []
    root, name, version = _called_task(db, "prepare_then_review")
    assert (name, version) == expected
    with db.read() as s:
        assert replay.verify(s, root)[1].ok


@pytest.mark.parametrize("binding, value, refusal", [
    ("version", "9", "stage_review version 9 is not deployed"),
    ("version", "${v}", "calledElementVersion '${v}' must be a version number"),
    ("version", "", "calledElementBinding 'version' needs calledElementVersion"),
    ("versionTag", "2030.1", "stage_review version tag 2030.1 is not deployed"),
    ("versionTag", "${tag}", "calledElementVersionTag '${tag}' must be a version tag, not an expression"),
])
def test_a_pinned_version_that_is_not_deployed_or_not_fixed_is_refused_naming_the_call(db, binding, value, refusal):
    _deploy(db, _file("stage_review.bpmn"))
    with pytest.raises(DefinitionInvalid) as refused:
        _deploy(db, _pinned(binding, value))
    assert "prepare_then_review.bpmn:6 element 'review' (callActivity)" in str(refused.value)
    assert refusal in str(refused.value)


def test_a_task_is_found_in_a_called_process_and_a_missing_one_is_none(db):
    """runtime.find_task looks through the called processes and answers None for a task the state
    has not (SpiffWorkflow raises); work on such a task is refused as no longer ready."""
    import uuid

    from engine import instances, runtime
    deploy_files(db, "stage_review.bpmn", "two_stages.bpmn")
    with db.write() as s:
        instance_id = services.start_process(s, "two_stages", variables={"project_name": "智慧教育"}).id
    with db.read() as s:
        (task,) = services.tasks(s, instance_id=instance_id)
        workflow = instances.stored_workflow(s, services.instance(s, instance_id))
    assert task.called_instance_id is not None  # the task is in the called process
    found = runtime.find_task(workflow, task.task_uuid)
    assert found is not None and found.task_spec.bpmn_id == task.element_id
    missing = str(uuid.uuid4())
    assert runtime.find_task(workflow, missing) is None
    with pytest.raises(TaskNotReady, match=missing):
        runtime.task_to_change(workflow, missing)
