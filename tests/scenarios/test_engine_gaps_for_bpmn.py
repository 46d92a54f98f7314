"""Camunda 7 constructs the diagrams of bpmn/ need or would use, each a minimal diagram and the
Camunda behaviour: they were engine gaps when the diagrams were drawn, and guard the fixes."""

from engine import services
from engine.definitions import BundleFile

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'id="D" targetNamespace="http://bpmn.io/schema/bpmn">')


def _deploy(db, **files):
    with db.write() as s:
        services.deploy(s, [BundleFile(name, (HEAD + text + "</bpmn:definitions>").encode()) for name, text in
                            files.items()], name="gap", user="admin")


def _start(db, key, business_key=None, **variables):
    with db.write() as s:
        return services.start_process(s, key, business_key=business_key, variables=variables).id


def _tasks(db, instance_id):
    with db.read() as s:
        return [(t.element_id, t.candidate_groups, t.due_at is not None) for t in services.tasks(s, instance_id=instance_id)]


CALLER = """<bpmn:process id="caller" isExecutable="true">
  <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:callActivity id="call" calledElement="called"><bpmn:extensionElements><camunda:in variables="all" /></bpmn:extensionElements>
    <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>
  <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="call" /><bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="e" />
</bpmn:process>"""
CALLED = """<bpmn:process id="called" isExecutable="true">
  <bpmn:startEvent id="s2"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:userTask id="review" name="技术审查" camunda:candidateGroups="unit:${unit}" camunda:dueDate="P5D">
    <bpmn:incoming>g1</bpmn:incoming><bpmn:outgoing>g2</bpmn:outgoing></bpmn:userTask>
  <bpmn:endEvent id="e2"><bpmn:incoming>g2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="g1" sourceRef="s2" targetRef="review" /><bpmn:sequenceFlow id="g2" sourceRef="review" targetRef="e2" />
</bpmn:process>"""


def test_a_task_of_a_called_process_is_offered_to_its_candidate_groups(db, frozen_clock):
    """Blocks stage_review (called by project for every approval stage): its tasks are offered to nobody."""
    _deploy(db, **{"caller.bpmn": CALLER, "called.bpmn": CALLED})
    instance_id = _start(db, "caller", unit="edu")
    assert _tasks(db, instance_id) == [("review", ["unit:edu"], True)]


def test_a_timer_date_expression_may_give_a_date(db, frozen_clock):
    """The diagrams write ${str(add_months(...))} meanwhile; Camunda accepts a java.util.Date."""
    _deploy(db, **{"timer_date.bpmn": """<bpmn:process id="timer_date" isExecutable="true">
  <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    <bpmn:timerEventDefinition><bpmn:timeDate xsi:type="bpmn:tFormalExpression">${add_months(today(), 12)}</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait" /><bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e" />
</bpmn:process>"""})
    instance_id = _start(db, "timer_date")
    with db.read() as s:
        assert services.instance(s, instance_id).status == "waiting"


def test_a_message_thrown_inside_an_embedded_subprocess_carries_its_input_parameters(db, frozen_clock):
    """The diagrams use a multi-instance call activity (project_launch) instead of this."""
    _deploy(db, **{"spawn.bpmn": """<bpmn:process id="spawn" isExecutable="true">
  <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:subProcess id="sub"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    <bpmn:startEvent id="ss"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="throw"><bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="businessKey">P-1</camunda:inputParameter>
        <camunda:inputParameter name="unit">edu</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>s1</bpmn:incoming><bpmn:messageEventDefinition messageRef="M" /></bpmn:endEvent>
    <bpmn:sequenceFlow id="s1" sourceRef="ss" targetRef="throw" />
  </bpmn:subProcess>
  <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="sub" /><bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="e" />
</bpmn:process>
<bpmn:process id="receiver" isExecutable="true">
  <bpmn:startEvent id="rs"><bpmn:outgoing>r1</bpmn:outgoing><bpmn:messageEventDefinition messageRef="M" /></bpmn:startEvent>
  <bpmn:userTask id="work" camunda:candidateGroups="unit:${unit}"><bpmn:incoming>r1</bpmn:incoming><bpmn:outgoing>r2</bpmn:outgoing></bpmn:userTask>
  <bpmn:endEvent id="re"><bpmn:incoming>r2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="r1" sourceRef="rs" targetRef="work" /><bpmn:sequenceFlow id="r2" sourceRef="work" targetRef="re" />
</bpmn:process>
<bpmn:message id="M" name="started" />"""})
    _start(db, "spawn")
    with db.read() as s:
        assert [(t.business_key, t.candidate_groups) for t in services.tasks(s)] == [("P-1", ["unit:edu"])]


def test_a_receive_task_waits_for_its_message(db, frozen_clock):
    """The project waits for the decision after a suspension with a message catch event instead."""
    _deploy(db, **{"receive.bpmn": """<bpmn:process id="receive" isExecutable="true">
  <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:receiveTask id="wait" messageRef="M"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:receiveTask>
  <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait" /><bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e" />
</bpmn:process>
<bpmn:message id="M" name="resumed" />"""})
    instance_id = _start(db, "receive", "P-1")
    with db.write() as s:
        services.correlate_message(s, "resumed", business_key="P-1")
    with db.read() as s:
        assert services.instance(s, instance_id).status == "completed"


def test_an_event_based_gateway_waits_for_either_message(db, frozen_clock):
    """The project would wait for 'resumed' or 'terminated' after a suspension; it waits for one
    message carrying the decision instead."""
    _deploy(db, **{"either.bpmn": """<bpmn:process id="either" isExecutable="true">
  <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:eventBasedGateway id="g"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:eventBasedGateway>
  <bpmn:intermediateCatchEvent id="a"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing><bpmn:messageEventDefinition messageRef="MA" /></bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="b"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing><bpmn:messageEventDefinition messageRef="MB" /></bpmn:intermediateCatchEvent>
  <bpmn:endEvent id="ea"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  <bpmn:endEvent id="eb"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g" /><bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="a" />
  <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="b" /><bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="ea" />
  <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="eb" />
</bpmn:process>
<bpmn:message id="MA" name="resumed" /><bpmn:message id="MB" name="terminated" />"""})
    instance_id = _start(db, "either", "P-1")
    with db.write() as s:
        services.correlate_message(s, "terminated", business_key="P-1")
    with db.read() as s:
        assert services.instance(s, instance_id).status == "completed"


def test_a_parallel_join_keeps_the_answer_of_the_branch_that_gave_it(db, frozen_clock):
    """Camunda has one variable scope per instance: what one branch sets stays set. Blocks the
    stage review's revision loops (a second round sees the first round's conclusions)."""
    _deploy(db, **{"join.bpmn": """<bpmn:process id="join" isExecutable="true">
  <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:parallelGateway id="split"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>a1</bpmn:outgoing><bpmn:outgoing>b1</bpmn:outgoing></bpmn:parallelGateway>
  <bpmn:userTask id="a" camunda:candidateGroups="office"><bpmn:incoming>a1</bpmn:incoming><bpmn:outgoing>a2</bpmn:outgoing></bpmn:userTask>
  <bpmn:userTask id="b" camunda:candidateGroups="cac"><bpmn:incoming>b1</bpmn:incoming><bpmn:outgoing>b2</bpmn:outgoing></bpmn:userTask>
  <bpmn:parallelGateway id="j"><bpmn:incoming>a2</bpmn:incoming><bpmn:incoming>b2</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:parallelGateway>
  <bpmn:userTask id="after" camunda:candidateGroups="drc"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
  <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="split" /><bpmn:sequenceFlow id="a1" sourceRef="split" targetRef="a" />
  <bpmn:sequenceFlow id="b1" sourceRef="split" targetRef="b" /><bpmn:sequenceFlow id="a2" sourceRef="a" targetRef="j" />
  <bpmn:sequenceFlow id="b2" sourceRef="b" targetRef="j" /><bpmn:sequenceFlow id="f2" sourceRef="j" targetRef="after" />
  <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="e" />
</bpmn:process>"""})
    instance_id = _start(db, "join", office_conclusion="revise")
    with db.read() as s:
        first, second = services.tasks(s, instance_id=instance_id)
    for task, data in ((first, {"office_conclusion": "pass"}), (second, {"cac_conclusion": "pass"})):
        with db.write() as s:
            services.complete_task(s, task.id, user="x", data=data, check_access=False)
    with db.read() as s:
        assert services.instance(s, instance_id).variables["office_conclusion"] == "pass"


MI_CALLER = """<bpmn:process id="mi_caller" isExecutable="true">
  <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:callActivity id="call" calledElement="mi_called"><bpmn:extensionElements>
      <camunda:in sourceExpression="${budgets[loopCounter]}" target="budget" />
      <camunda:in sourceExpression="${part}" target="unit" /></bpmn:extensionElements>
    <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    <bpmn:multiInstanceLoopCharacteristics camunda:collection="${parts}" camunda:elementVariable="part" />
  </bpmn:callActivity>
  <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="call" /><bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="e" />
</bpmn:process>"""
MI_CALLED = """<bpmn:process id="mi_called" isExecutable="true">
  <bpmn:startEvent id="s2"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:userTask id="part_task" camunda:candidateGroups="unit:${unit}">
    <bpmn:incoming>g1</bpmn:incoming><bpmn:outgoing>g2</bpmn:outgoing></bpmn:userTask>
  <bpmn:endEvent id="e2"><bpmn:incoming>g2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="g1" sourceRef="s2" targetRef="part_task" /><bpmn:sequenceFlow id="g2" sourceRef="part_task" targetRef="e2" />
</bpmn:process>"""


def test_loop_counter_is_visible_to_the_inputs_of_a_multi_instance_call_activity(db, frozen_clock):
    from engine import instances, runtime
    _deploy(db, **{"mi_caller.bpmn": MI_CALLER, "mi_called.bpmn": MI_CALLED})
    instance_id = _start(db, "mi_caller", parts=["health", "transport"], budgets=[500000, 700000])
    with db.read() as s:
        workflow = instances.load(s, instance_id).workflow
        budgets = sorted((t.data["unit"], t.data["budget"]) for t in runtime.ready_user_tasks(workflow))
    budgets = [budget for _, budget in budgets]
    assert budgets == [500000, 700000]
