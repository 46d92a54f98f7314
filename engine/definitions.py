"""Deploy: parse, validate and version BPMN processes, DMN decisions and Camunda forms.

A bundle is checked whole before anything is stored: every problem of every file is listed in
one DefinitionInvalid, and nothing is written. Unchanged content makes no new version.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.bpmn.parser.task_parsers import SubprocessParser
from SpiffWorkflow.bpmn.parser.event_parsers import (CANCEL_EVENT_XPATH, CONDITIONAL_EVENT_XPATH, ERROR_EVENT_XPATH,
                                                     ESCALATION_EVENT_XPATH, MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH,
                                                     TERMINATION_EVENT_XPATH, TIMER_EVENT_XPATH)
from SpiffWorkflow.camunda.parser.event_parsers import CamundaEndEventParser, CamundaStartEventParser
from SpiffWorkflow.bpmn.specs.defaults import EventSubprocess as DefaultEventSubprocess
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser
from SpiffWorkflow.camunda.parser.task_spec import SubWorkflowParser as CamundaSubWorkflowParser
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import bureaus, clock, dmn, foreign, runtime, specs
from .errors import DefinitionInvalid, EngineError, Problem
from .expressions import compile_template
from .models import (DecisionDefinition, Deployment, FormDefinition, ProcessDefinition, Resource,
                     StartSubscription, Timer)
from .validation import check_bpmn, task_documentation
from .xmlsafe import parse_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}


class _BusinessRuleTaskParser(CamundaTaskParser):
    """Reads a business rule task as a plain task: the decision is the engine's (engine.dmn)."""

    @staticmethod
    def get_decision_ref(node):
        return node.get(f"{{{CAMUNDA_NS}}}decisionRef")


class _SubprocessParser(CamundaSubWorkflowParser):
    """Camunda's subprocess parser, knowing event subprocesses (triggeredByEvent)."""

    def create_task(self):
        if (self.node.get("triggeredByEvent") or "").lower() == "true":
            return DefaultEventSubprocess(self.spec, self.bpmn_id,
                                          subworkflow_spec=SubprocessParser.get_subprocess_spec(self),
                                          **self.bpmn_attributes)
        return super().create_task()


class _EndEventParser(CamundaEndEventParser):
    """Camunda's end event parser, knowing signal end events too (SpiffWorkflow's reads a signal
    end event as a plain end, so its signal would never be broadcast)."""

    def create_task(self):
        event_definition = self.get_event_definition(
            [MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, CANCEL_EVENT_XPATH, ERROR_EVENT_XPATH,
             ESCALATION_EVENT_XPATH, TERMINATION_EVENT_XPATH])
        task = self._create_task(event_definition)
        task.connect(self.spec.end)
        return task


class _StartEventParser(CamundaStartEventParser):
    """Camunda's start event parser, knowing the error and escalation start events of an event
    subprocess (SpiffWorkflow's reads them as none starts, so the event subprocess would run at once)."""

    def create_task(self):
        event_definition = self.get_event_definition(
            [MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH, CONDITIONAL_EVENT_XPATH, ERROR_EVENT_XPATH,
             ESCALATION_EVENT_XPATH])
        task = self._create_task(event_definition)
        self.spec.start.connect(task)
        return task


class DaladParser(CamundaParser):
    """Camunda's parser, with business rule tasks evaluated by the engine's own DMN, event
    subprocesses known as such (their error and escalation starts too) and signal end events that signal."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("endEvent"): (_EndEventParser, CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("endEvent")][1]),
        full_tag("startEvent"): (_StartEventParser, CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("startEvent")][1]),
        full_tag("businessRuleTask"): (_BusinessRuleTaskParser, specs.EngineBusinessRuleTask),
        full_tag("subProcess"): (_SubprocessParser, CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("subProcess")][1]),
    }


@dataclass
class BundleFile:
    name: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class ParsedProcess:
    key: str
    name: Optional[str]
    version_tag: Optional[str]
    file: BundleFile
    spec: dict
    meta: dict


@dataclass
class ParsedBundle:
    processes: list[ParsedProcess] = field(default_factory=list)
    decisions: list[tuple[str, Optional[str], BundleFile]] = field(default_factory=list)
    forms: list[tuple[str, dict, BundleFile]] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # what deploys but runs otherwise than in Camunda


@dataclass
class DeployedItem:
    kind: str  # process | decision | form
    key: str
    version: int
    id: int
    new: bool
    name: Optional[str] = None
    resource: Optional[str] = None


@dataclass
class DeploymentResult:
    deployment: Deployment
    items: list[DeployedItem]
    warnings: list[Problem] = field(default_factory=list)


# --- parsing -----------------------------------------------------------------------------------

def parse_bundle(files: list[BundleFile], resolve_process=None, decision_deployed=None,
                 unknown_groups=None) -> ParsedBundle:
    """Parse and check every file of a bundle; raise DefinitionInvalid listing all problems.

    `resolve_process(key)` gives the (name, bytes) of the latest deployed file that defines
    process `key`, for call activities whose called process is not in the bundle;
    `decision_deployed(key)` says whether a decision of that key is deployed already;
    `unknown_groups(ids)` gives those of the group ids that are no group (a warning each).
    """
    problems: list[Problem] = []
    bundle = ParsedBundle()
    parser = DaladParser()
    bpmn_trees: list[tuple[BundleFile, etree._ElementTree]] = []
    dmn_trees: dict[str, tuple[BundleFile, etree._ElementTree]] = {}
    seen = set()
    for f in files:
        if f.name in seen:
            problems.append(Problem(f.name, "the bundle has two files of this name"))
            continue
        seen.add(f.name)
        lower = f.name.lower()
        try:
            if lower.endswith(".bpmn") or lower.endswith(".bpmn20.xml"):
                tree = parse_xml(f.content, f.name)
                warnings, found = foreign.adapt(tree.getroot(), f.name)
                bundle.warnings.extend(warnings)
                found += check_bpmn(tree, f.name)
                problems.extend(found)
                if not found:
                    bpmn_trees.append((f, tree))
            elif lower.endswith(".dmn"):
                dmn_trees[f.name] = (f, parse_xml(f.content, f.name))
            elif lower.endswith(".form"):
                _add_form(f, bundle, problems)
            else:
                problems.append(Problem(f.name, "unknown file type: expected .bpmn, .dmn or .form"))
        except DefinitionInvalid as exc:
            problems.extend(exc.problems)
    _add_dmn(dmn_trees, bundle, problems)
    for f, tree in bpmn_trees:
        _explicit_splits(tree)
        _link_events(tree)
        try:
            parser.add_bpmn_xml(tree, filename=f.name)
        except ValidationException as exc:
            problems.append(_problem_from_spiff(exc, f, tree))
        except (SpiffWorkflowException, AttributeError, KeyError, TypeError, ValueError) as exc:
            problems.append(Problem(f.name, f"the diagram cannot be read: {type(exc).__name__}: {exc}"))
    if problems:
        raise DefinitionInvalid(problems)
    extension_config = {}
    bundle_decisions = {key for key, _, _ in bundle.decisions}
    for f, tree in bpmn_trees:
        found = _extension_config(tree, f.name, problems)
        extension_config.update(found)
        for (_, element_id), config in found.items():
            ref = config.get("dalad_decision")
            if ref and "${" not in ref["decision_key"] and "#{" not in ref["decision_key"] and \
                    ref["decision_key"] not in bundle_decisions and \
                    not (decision_deployed and decision_deployed(ref["decision_key"])):
                element = tree.getroot().xpath("//*[@id=$id]", id=element_id)[0]
                problems.append(Problem(f.name, f"decision '{ref['decision_key']}' (camunda:decisionRef) is not in "
                                                "the bundle nor deployed", line=element.sourceline,
                                        element_id=element_id, element_type="businessRuleTask"))
    if problems:
        raise DefinitionInvalid(problems)
    process_elements = {p.get("id"): (t, p) for _, t in bpmn_trees for p in t.getroot().iter(f"{{{BPMN_NS}}}process")}
    called_elsewhere, pinned, wrong = _called_elsewhere(bpmn_trees, resolve_process)
    if wrong:
        raise DefinitionInvalid(wrong)
    for called, (f, tree) in called_elsewhere:
        try:
            parser.add_bpmn_xml(tree, filename=f.name)
            extension_config.update(_extension_config(tree, f.name, problems))
            process_elements.update({p.get("id"): (tree, p) for p in tree.getroot().iter(f"{{{BPMN_NS}}}process")})
        except (SpiffWorkflowException, AttributeError, KeyError, TypeError, ValueError) as exc:
            problems.append(Problem(f.name, f"deployed process '{called}' cannot be read again: {exc}"))
    for f, tree in bpmn_trees:
        for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
            if process.get("isExecutable", "").lower() != "true":
                continue
            key = process.get("id")
            try:
                spec = parser.get_spec(key)
                subs = parser.get_subprocess_specs(key)
                _literal_timers(spec, subs)
                _configure_extensions([spec, *subs.values()], extension_config)
                specs.adapt_specs([spec, *(sub for sub in subs.values() if sub is not None)])
                spec_dict = runtime.spec_to_dict(spec, subs)
            except ValidationException as exc:
                problems.append(_problem_from_spiff(exc, f, tree))
                continue
            except (SpiffWorkflowException, AttributeError, KeyError, TypeError, ValueError) as exc:
                problems.append(Problem(f.name, f"process cannot be built: {type(exc).__name__}: {exc}",
                                        line=process.sourceline, element_id=key, element_type="process"))
                continue
            bundle.processes.append(ParsedProcess(
                key=key, name=process.get("name"),
                version_tag=process.get(f"{{{CAMUNDA_NS}}}versionTag"),
                file=f, spec=spec_dict, meta=_with_called_tasks(process_meta(tree, process, spec), subs,
                                                               process_elements, pinned)))
    if problems:
        raise DefinitionInvalid(problems)
    if unknown_groups is not None:
        bundle.warnings.extend(_unknown_group_warnings(bpmn_trees, unknown_groups))
    bundle.warnings.sort(key=lambda p: (p.file, p.line or 0))
    return bundle


def _unknown_group_warnings(bpmn_trees, unknown_groups) -> list[Problem]:
    """A warning per element naming a group that does not exist (literal candidate groups of user
    tasks, a lane standing for them, candidate starter groups): nobody can be offered its tasks
    until an administrator adds the group (`dalad groups add`)."""
    named = []
    for f, tree in bpmn_trees:
        for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
            lanes = {(ref.text or "").strip(): ref.getparent() for ref in process.iter(f"{{{BPMN_NS}}}flowNodeRef")}
            starters = _split(process.get(f"{{{CAMUNDA_NS}}}candidateStarterGroups"))
            named.append((f, process, "candidate starter group", [g for g in starters if "{" not in g]))
            for task in process.iter(f"{{{BPMN_NS}}}userTask"):
                text = task.get(f"{{{CAMUNDA_NS}}}candidateGroups")
                lane = lanes.get(task.get("id"))
                if text is not None:
                    named.append((f, task, "candidate group", [g for g in _split(text) if "{" not in g]))
                elif lane is not None and not task.get(f"{{{CAMUNDA_NS}}}assignee") and \
                        not task.get(f"{{{CAMUNDA_NS}}}candidateUsers"):
                    named.append((f, task, "candidate group (its lane)", [lane.get("name") or lane.get("id")]))
    unknown = set(unknown_groups(sorted({g for *_, groups in named for g in groups})))
    warnings = []
    for f, element, what, groups in named:
        missing = [g for g in groups if g in unknown]
        if missing:
            verb = "does not exist" if len(missing) == 1 else "do not exist"
            warnings.append(Problem(f.name, f"{what} {', '.join(repr(g) for g in missing)} {verb}: nobody is "
                                            "offered this until an administrator adds it (`dalad groups add`)",
                                    line=element.sourceline, element_id=element.get("id"),
                                    element_type=etree.QName(element).localname))
    return warnings


TIMER_KINDS = {"timeDate": "date", "timeDuration": "duration", "timeCycle": "cycle"}

ACTIVITIES = {"task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
              "businessRuleTask", "callActivity", "subProcess", "transaction"}


def _explicit_splits(tree) -> None:
    """Camunda runs several outgoing flows of an activity (or one conditional flow) as an
    uncontrolled split: every flow without a condition and every flow whose condition holds.
    SpiffWorkflow refuses such activities, so the parsed tree (not the stored file) gets the
    inclusive gateway that means exactly that, right after the activity."""
    for process in tree.getroot().iter(f"{{{BPMN_NS}}}process", f"{{{BPMN_NS}}}subProcess"):
        flows = {f.get("id"): f for f in process.findall("bpmn:sequenceFlow", NS)}
        for activity in list(process):
            if not isinstance(activity.tag, str) or etree.QName(activity).localname not in ACTIVITIES:
                continue
            outgoing = [flows[ref.text.strip()] for ref in activity.findall("bpmn:outgoing", NS)
                        if ref.text and ref.text.strip() in flows]
            conditional = any(f.find("bpmn:conditionExpression", NS) is not None for f in outgoing)
            if len(outgoing) < 2 and not conditional:
                continue
            gateway_id, link_id = f"{activity.get('id')}__split", f"{activity.get('id')}__to_split"
            gateway = etree.SubElement(process, f"{{{BPMN_NS}}}inclusiveGateway", id=gateway_id)
            gateway.sourceline = activity.sourceline
            if activity.get("default"):
                gateway.set("default", activity.attrib.pop("default"))
            etree.SubElement(gateway, f"{{{BPMN_NS}}}incoming").text = link_id
            for ref in activity.findall("bpmn:outgoing", NS):
                activity.remove(ref)
            etree.SubElement(activity, f"{{{BPMN_NS}}}outgoing").text = link_id
            for flow in outgoing:
                flow.set("sourceRef", gateway_id)
                etree.SubElement(gateway, f"{{{BPMN_NS}}}outgoing").text = flow.get("id")
            etree.SubElement(process, f"{{{BPMN_NS}}}sequenceFlow", id=link_id,
                             sourceRef=activity.get("id"), targetRef=gateway_id)
        flows = {f.get("id"): f for f in process.findall("bpmn:sequenceFlow", NS)}
        for gateway in process.findall("bpmn:inclusiveGateway", NS):
            # Camunda: a flow out of an inclusive gateway without a condition is always taken.
            for ref in gateway.findall("bpmn:outgoing", NS):
                flow = flows.get((ref.text or "").strip())
                if flow is not None and flow.get("id") != gateway.get("default") and \
                        flow.find("bpmn:conditionExpression", NS) is None:
                    etree.SubElement(flow, f"{{{BPMN_NS}}}conditionExpression").text = "True"


def _link_events(tree) -> None:
    """A link throw event goes on at the link catch event of its name in its process or subprocess
    (check_bpmn made sure there is exactly one). SpiffWorkflow knows no links, so the parsed tree
    (not the stored file) gets the sequence flow from the throw event to the catch event, and both
    become plain intermediate events that pass."""
    link = f"{{{BPMN_NS}}}linkEventDefinition"
    for scope in tree.getroot().iter(f"{{{BPMN_NS}}}process", f"{{{BPMN_NS}}}subProcess",
                                     f"{{{BPMN_NS}}}adHocSubProcess"):
        catches = {}
        for event in scope.findall("bpmn:intermediateCatchEvent", NS):
            for definition in event.findall("bpmn:linkEventDefinition", NS):
                catches[(definition.get("name") or "").strip()] = event
                event.remove(definition)
                event.tag = f"{{{BPMN_NS}}}intermediateThrowEvent"  # a catch event without a definition waits
        for event in scope.findall("bpmn:intermediateThrowEvent", NS):
            for definition in event.findall(link):
                target = catches[(definition.get("name") or "").strip()]
                event.remove(definition)
                flow_id = f"{event.get('id')}__link"
                etree.SubElement(event, f"{{{BPMN_NS}}}outgoing").text = flow_id
                etree.SubElement(target, f"{{{BPMN_NS}}}incoming").text = flow_id
                etree.SubElement(scope, f"{{{BPMN_NS}}}sequenceFlow", id=flow_id, sourceRef=event.get("id"),
                                 targetRef=target.get("id"))


def _extension_config(tree, filename: str, problems: list[Problem]) -> dict:
    """What the engine reads from extension elements, keyed by (process id, element id):
    camunda:in / camunda:out of call activities, camunda:inputOutput input parameters."""
    mappings = {}
    scopes = (f"{{{BPMN_NS}}}process", f"{{{BPMN_NS}}}subProcess", f"{{{BPMN_NS}}}transaction")

    def scope_of(element) -> str:
        parent = element.getparent()
        while parent is not None and parent.tag not in scopes:
            parent = parent.getparent()
        return parent.get("id") if parent is not None else ""

    error_messages = {error.get("id"): error.get(f"{{{CAMUNDA_NS}}}errorMessage")
                      for error in tree.getroot().iter(f"{{{BPMN_NS}}}error")}
    for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
        for activity in process.iter(f"{{{BPMN_NS}}}callActivity"):
            config = {"in": [], "out": []}
            for direction in ("in", "out"):
                for el in activity.iterfind(f"bpmn:extensionElements/camunda:{direction}", NS):
                    config[direction].append({k: el.get(k) for k in ("source", "sourceExpression", "target",
                                                                      "variables", "local", "businessKey")
                                              if el.get(k) is not None})
            binding = (activity.get(f"{{{CAMUNDA_NS}}}calledElementBinding") or "latest").strip()
            config["binding"] = {"binding": binding, "version": (activity.get(
                f"{{{CAMUNDA_NS}}}calledElementVersion") or "").strip() or None, "version_tag": (activity.get(
                f"{{{CAMUNDA_NS}}}calledElementVersionTag") or "").strip() or None}
            mappings[(scope_of(activity), activity.get("id"))] = {"dalad_call": config}
        for element in process.iter():
            if not isinstance(element.tag, str) or not element.get("id"):
                continue
            entry = mappings.setdefault((scope_of(element), element.get("id")), {})
            if etree.QName(element).localname == "startEvent" and \
                    (element.getparent().get("triggeredByEvent") or "").lower() == "true":
                entry["dalad_interrupting"] = (element.get("isInterrupting") or "true").lower() != "false"
                for value in element.iterfind("bpmn:timerEventDefinition/*", NS):
                    kind = TIMER_KINDS.get(etree.QName(value).localname if isinstance(value.tag, str) else "")
                    if kind is not None:
                        entry["dalad_timer"] = {"kind": kind, "text": (value.text or "").strip()}
            for phase in ("Before", "After"):
                if (element.get(f"{{{CAMUNDA_NS}}}async{phase}") or "").lower() == "true":
                    entry[f"dalad_async_{phase.lower()}"] = True
            if element.get(f"{{{CAMUNDA_NS}}}type") == "external":
                entry["dalad_external"] = {"topic": element.get(f"{{{CAMUNDA_NS}}}topic"),
                                           "priority": element.get(f"{{{CAMUNDA_NS}}}taskPriority"),
                                           "incident": element.get(foreign.INCIDENT_ATTRIBUTE)}
            if etree.QName(element).localname == "businessRuleTask":
                ref, found = dmn.business_rule_reference(element, filename)
                problems.extend(found)
                if ref is not None:
                    entry["dalad_decision"] = dataclasses.asdict(ref)
            for error in element.findall("bpmn:errorEventDefinition", NS):
                entry["dalad_error"] = {"code_variable": error.get(f"{{{CAMUNDA_NS}}}errorCodeVariable"),
                                        "message_variable": error.get(f"{{{CAMUNDA_NS}}}errorMessageVariable"),
                                        "message": error_messages.get(error.get("errorRef"))}
            for condition in element.findall("bpmn:conditionalEventDefinition", NS):
                events = [e.strip() for e in (condition.get(f"{{{CAMUNDA_NS}}}variableEvents") or "").split(",")
                          if e.strip()]
                entry["dalad_condition"] = {"variable": (condition.get(f"{{{CAMUNDA_NS}}}variableName") or "").strip()
                                            or None, "events": events}
            for escalation in element.findall("bpmn:escalationEventDefinition", NS):
                if escalation.get(f"{{{CAMUNDA_NS}}}escalationCodeVariable"):
                    entry["dalad_escalation_code_variable"] = escalation.get(f"{{{CAMUNDA_NS}}}escalationCodeVariable")
            io = element.find("bpmn:extensionElements/camunda:inputOutput", NS)
            if io is not None:
                entry["dalad_io"] = {
                    kind: {p.get("name"): _parameter(p) for p in io.findall(f"camunda:{kind[:-1]}Parameter", NS)
                           if p.get("name")}
                    for kind in ("inputs", "outputs")}
    return mappings


def _parameter(element):
    """The value of a camunda input/output parameter: text, a camunda:list / camunda:map, a FEEL
    script ({specs.FEEL_PARAMETER: text}) or a Python one ({specs.PYTHON_PARAMETER: text})."""
    script = element.find("camunda:script", NS)
    if script is not None:
        script_format = (script.get("scriptFormat") or "").strip().lower()
        if script_format == "feel":
            return {specs.FEEL_PARAMETER: (script.text or "").strip()}
        if script_format in foreign.PYTHON_SCRIPTS:
            return {specs.PYTHON_PARAMETER: script.text or ""}
    found = element.find("camunda:list", NS)
    if found is not None:
        return [_parameter(value) for value in found.findall("camunda:value", NS)]
    found = element.find("camunda:map", NS)
    if found is not None:
        return {entry.get("key"): _parameter(entry) for entry in found.findall("camunda:entry", NS)}
    return (element.text or "").strip()


def _configure_extensions(process_specs, extension_config: dict) -> None:
    for process_spec in process_specs:
        if process_spec is None:
            continue
        for task_spec in process_spec.task_specs.values():
            config = extension_config.get((process_spec.name, getattr(task_spec, "bpmn_id", None)))
            if config:
                task_spec.extensions = {**(getattr(task_spec, "extensions", None) or {}), **config}
                if config.get("dalad_io") and hasattr(task_spec, "data_input_associations"):
                    specs.apply_input_output(task_spec, config["dalad_io"])


def _called_elsewhere(bpmn_trees, resolve_process) -> tuple[list, dict[str, int], list[Problem]]:
    """Files of already deployed processes that the bundle's call activities call, and those that
    these call in turn; the versions that binding `version` or `versionTag` pins ({key: version});
    and what is wrong with those bindings. A deployment bundles one version of each called process."""
    if resolve_process is None:
        return [], {}, []
    in_bundle = {p.get("id") for _, tree in bpmn_trees for p in tree.getroot().iter(f"{{{BPMN_NS}}}process")}
    defined, asked = set(in_bundle), {}
    found, pinned, problems = [], {}, []
    trees = [(f.name, tree) for f, tree in bpmn_trees]
    while trees:
        file_name, tree = trees.pop(0)
        for activity in tree.getroot().iter(f"{{{BPMN_NS}}}callActivity"):
            called = activity.get("calledElement")
            if not called:
                continue
            binding = (activity.get(f"{{{CAMUNDA_NS}}}calledElementBinding") or "latest").strip()
            pin = {"version": ("version", (activity.get(f"{{{CAMUNDA_NS}}}calledElementVersion") or "").strip()),
                   "versionTag": ("version tag", (activity.get(f"{{{CAMUNDA_NS}}}calledElementVersionTag") or "")
                                  .strip())}.get(binding)
            what = f"{called} {pin[0]} {pin[1]}" if pin else f"the latest {called}"

            def refuse(message: str) -> None:
                problems.append(Problem(file_name, message, line=activity.sourceline, element_id=activity.get("id"),
                                        element_type="callActivity"))
            if called in asked:
                if asked[called] != pin:
                    refuse(f"calls {what}, where another call activity of this deployment calls "
                           f"{asked[called][0] + ' ' + asked[called][1] if asked[called] else 'the latest'}: a "
                           "deployment runs one version of each called process")
                continue
            asked[called] = pin
            if called in in_bundle:
                if pin:
                    refuse(f"calls {what}, but this deployment deploys {called} itself: deploy {called} first")
                continue
            if called in defined:
                continue
            defined.add(called)
            resolved = resolve_process(called, pin) if pin else resolve_process(called)
            if resolved is None:
                if pin:
                    refuse(f"{what} is not deployed")
                continue
            name, content, version = resolved
            if pin:
                pinned[called] = version
            called_tree = parse_xml(content, name)
            foreign.adapt(called_tree.getroot(), name)  # as when it was deployed (its warnings were given then)
            found.append((called, (BundleFile(name, content), called_tree)))
            defined.update(p.get("id") for p in called_tree.getroot().iter(f"{{{BPMN_NS}}}process"))
            trees.append((name, called_tree))
    return found, pinned, problems


def _problem_from_spiff(exc: ValidationException, f: BundleFile, tree) -> Problem:
    element_id = getattr(exc, "id", "") or None
    line, tag = None, getattr(exc, "tag", "") or None
    if element_id:
        found = tree.getroot().xpath("//*[@id=$id]", id=element_id)
        if found:
            line = found[0].sourceline
            tag = etree.QName(found[0]).localname
    message = str(exc).splitlines()[0]
    return Problem(f.name, message, line=line, element_id=element_id,
                   element_type=(tag or "").replace("bpmn:", "") or None)


def _add_dmn(trees: dict[str, tuple[BundleFile, etree._ElementTree]], bundle: ParsedBundle,
             problems: list[Problem]) -> None:
    """The DMN files of the bundle, read together (one may import another)."""
    decisions, found = dmn.parse_dmn_bundle({name: tree for name, (_, tree) in trees.items()})
    problems.extend(found)
    for decision in decisions:
        bundle.decisions.append((decision.id, decision.name, trees[decision.file][0]))


_MAX_FORM_NESTING = 64  # arrays and objects in one another (as an HTTP JSON body may nest)


def _nesting(value: Any) -> int:
    """How deep lists and dicts nest in `value` (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= _MAX_FORM_NESTING:
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _add_form(f: BundleFile, bundle: ParsedBundle, problems: list[Problem]) -> None:
    try:
        schema = json.loads(f.content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        problems.append(Problem(f.name, f"not a Camunda Forms JSON file: {exc}", line=line))
        return
    except RecursionError:
        schema = None
    if schema is None or _nesting(schema) > _MAX_FORM_NESTING:
        problems.append(Problem(f.name, f"a Camunda Forms JSON file nested deeper than {_MAX_FORM_NESTING} levels"))
        return
    if not isinstance(schema, dict) or not isinstance(schema.get("id"), str) or not schema["id"]:
        problems.append(Problem(f.name, "a Camunda form needs an \"id\" at its top level"))
        return
    if not isinstance(schema.get("components", []), list):
        problems.append(Problem(f.name, "\"components\" must be a list"))
        return
    bundle.forms.append((schema["id"], schema, f))


def _literal_timers(spec, subprocess_specs) -> None:
    """Camunda writes timer values bare (PT5M); make them literals for the expression engine."""
    for process_spec in [spec, *subprocess_specs.values()]:
        if process_spec is None:
            continue
        for task_spec in process_spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            inner = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
            for timer in inner:  # an event-based gateway waits for several events at once
                if isinstance(timer, TimerEventDefinition):
                    text = (timer.expression or "").strip()
                    if "${" not in text and "#{" not in text and not text.startswith(("'", '"')):
                        timer.expression = repr(text)


def _with_called_tasks(meta: dict, subprocess_specs: dict, process_elements: dict, pinned: dict) -> dict:
    """Add the user-task attributes of the processes that call activities call, by process id, and
    the versions of those a binding `version` or `versionTag` pins."""
    called = {}
    for name in subprocess_specs:
        if name in process_elements:
            tree, element = process_elements[name]
            called[name] = process_meta(tree, element, None)["user_tasks"]
    versions = {name: version for name, version in pinned.items() if name in subprocess_specs}
    return {**meta, "called_user_tasks": called, **({"called_versions": versions} if versions else {})}


# camunda:property names the engine reads (Camunda Modeler: Extension properties).
CORRELATOR_GROUPS = "dalad:correlatorGroups"  # on a catch/start event: who may send it from outside
PROTECTED_VARIABLES = "dalad:protectedVariables"  # on the process: what outside senders may not set


def user_task_meta(meta: dict, element_id: str) -> dict:
    """The attributes of user task `element_id`: the process's own, else a called process's."""
    own = (meta.get("user_tasks") or {}).get(element_id)
    if own:
        return own
    return next((called[element_id] for called in (meta.get("called_user_tasks") or {}).values()
                 if element_id in called), {})


def process_meta(tree, process, spec) -> dict:
    """What the engine reads per element at run time: user-task attributes, lanes, start rules."""
    lanes = {}
    for ref in process.iter(f"{{{BPMN_NS}}}flowNodeRef"):
        lane = ref.getparent()
        lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id")
    c = lambda el, attr: el.get(f"{{{CAMUNDA_NS}}}{attr}")  # noqa: E731
    user_tasks = {}
    for el in process.iter(f"{{{BPMN_NS}}}userTask"):
        fields = []
        for fd in el.iterfind("bpmn:extensionElements/camunda:formData/camunda:formField", NS):
            fields.append(_form_field(fd))
        user_tasks[el.get("id")] = {
            "name": el.get("name"), "lane": lanes.get(el.get("id")),
            "assignee": c(el, "assignee"), "candidate_users": c(el, "candidateUsers"),
            "candidate_groups": c(el, "candidateGroups"), "due_date": c(el, "dueDate"),
            "follow_up_date": c(el, "followUpDate"), "priority": c(el, "priority"),
            "form_key": c(el, "formKey"), "form_ref": c(el, "formRef"),
            "form_ref_binding": c(el, "formRefBinding") or "latest", "form_ref_version": c(el, "formRefVersion"),
            "form_fields": fields, "documentation": task_documentation(el),
        }
    starts = []
    for el in process.findall("bpmn:startEvent", NS):
        kind = "none"
        for child in el:
            local = etree.QName(child).localname if isinstance(child.tag, str) else ""
            if local.endswith("EventDefinition"):
                kind = local[: -len("EventDefinition")]
        timer = None
        for definition in el.findall("bpmn:timerEventDefinition", NS):
            for child in definition:
                local = etree.QName(child).localname if isinstance(child.tag, str) else ""
                if local in ("timeDate", "timeDuration", "timeCycle"):
                    timer = {"kind": TIMER_KINDS[local],
                             "text": (child.text or "").strip()}
        starts.append({"id": el.get("id"), "kind": kind, "initiator": c(el, "initiator"), "timer": timer,
                       "form_fields": [_form_field(fd) for fd in el.iterfind(
                           "bpmn:extensionElements/camunda:formData/camunda:formField", NS)]})
    correlators = {}  # element id -> dalad:correlatorGroups (engine/senders.py)
    for el in process.iter():
        for prop in el.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", NS):
            if prop.get("name") == CORRELATOR_GROUPS and el.get("id"):
                correlators[el.get("id")] = prop.get("value") or ""
    protected = [name for name in _split(next((p.get("value") for p in process.iterfind(
        "bpmn:extensionElements/camunda:properties/camunda:property", NS) if p.get("name") == PROTECTED_VARIABLES), ""))]
    protected += [c(el, "resultVariable") for el in process.iter(f"{{{BPMN_NS}}}businessRuleTask")
                  if c(el, "resultVariable")]
    return {
        "name": process.get("name"),
        "correlators": correlators,
        "protected_variables": protected,
        "user_tasks": user_tasks,
        "starts": starts,
        "starter_groups": _split(c(process, "candidateStarterGroups")),
        "starter_users": _split(c(process, "candidateStarterUsers")),
        "startable_by_hand": (c(process, "isStartableInTasklist") or "true").strip().lower() != "false",
        "history_time_to_live": _days(c(process, "historyTimeToLive")),
        "message_starts": [list(start) for start in runtime.message_start_events(spec)] if spec else [],
    }


def _days(text: Optional[str]) -> Optional[int]:
    """camunda:historyTimeToLive as Camunda 7 reads it: days, written `180` or `P180D` (else none)."""
    found = re.fullmatch(r"\s*(?:P(\d+)D|(\d+))\s*", text or "")
    return int(found.group(1) or found.group(2)) if found else None


def _form_field(fd) -> dict:
    field = {"id": fd.get("id"), "label": fd.get("label"), "type": fd.get("type") or "string",
             "default": fd.get("defaultValue"), "validation": {}, "properties": {}, "values": []}
    for constraint in fd.iterfind("camunda:validation/camunda:constraint", NS):
        field["validation"][constraint.get("name")] = constraint.get("config")
    for prop in fd.iterfind("camunda:properties/camunda:property", NS):
        field["properties"][prop.get("id")] = prop.get("value")
    for value in fd.iterfind("camunda:value", NS):
        field["values"].append({"id": value.get("id"), "name": value.get("name")})
    return field


def _split(text: Optional[str]) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


# --- storing -----------------------------------------------------------------------------------

def prepare_bundle(session: Session, files: list[BundleFile]) -> ParsedBundle:
    """Parse and check a bundle against what is deployed. Stores nothing."""
    def resolve_process(key: str, pin: Optional[tuple[str, str]] = None):
        """The file and version of process `key` deployed: the latest, or the one `pin` names
        (("version", "3") or ("version tag", "2026.1"): the latest of that tag)."""
        query = select(ProcessDefinition).where(ProcessDefinition.key == key)
        if pin and pin[0] == "version":
            query = query.where(ProcessDefinition.version == (int(pin[1]) if pin[1].isdigit() else -1))
        elif pin:
            query = query.where(ProcessDefinition.version_tag == pin[1])
        found = session.scalars(query.order_by(ProcessDefinition.version.desc()).limit(1)).first()
        return (found.resource.name, found.resource.content, found.version) if found is not None else None

    def parse(bundle_files: list[BundleFile]) -> ParsedBundle:
        return parse_bundle(bundle_files, resolve_process,
                            lambda key: _latest(session, DecisionDefinition, key) is not None,
                            lambda ids: bureaus.unknown_groups(session, ids))

    return parse(files)


def deploy(session: Session, files: list[BundleFile], *, name: str, source: Optional[str] = None,
           user: Optional[str] = None, tenant_id: Optional[str] = None,
           changed_only: bool = False, all_versions: bool = False) -> DeploymentResult:
    """Store a bundle as a deployment; new versions only for content that changed (with
    `all_versions`, of everything in it, as Camunda deploys without deploy-changed-only)."""
    bundle = prepare_bundle(session, files)
    deployment = Deployment(name=name, source=source, tenant_id=tenant_id, deployed_by=user,
                            deployed_at=clock.now(),
                            warnings=[dataclasses.asdict(w) for w in bundle.warnings] or None)
    session.add(deployment)
    session.flush()
    resources: dict[str, Resource] = {}

    def resource_for(f: BundleFile) -> Resource:
        if f.name not in resources:
            resources[f.name] = Resource(deployment_id=deployment.id, name=f.name, content=f.content,
                                         sha256=f.sha256)
            session.add(resources[f.name])
            session.flush()
        return resources[f.name]

    items: list[DeployedItem] = []
    for p in bundle.processes:
        latest = _latest(session, ProcessDefinition, p.key)
        if latest is not None and latest.content_hash == p.file.sha256 and not all_versions:
            items.append(DeployedItem("process", p.key, latest.version, latest.id, False, latest.name,
                                      latest.resource.name))
            continue
        definition = ProcessDefinition(
            key=p.key, version=(latest.version + 1) if latest else 1, name=p.name,
            version_tag=p.version_tag, deployment_id=deployment.id, resource_id=resource_for(p.file).id,
            content_hash=p.file.sha256, spec=p.spec, meta={**p.meta, "deployment_id": deployment.id})
        session.add(definition)
        session.flush()
        for element, kind, name in p.meta["message_starts"]:
            session.add(StartSubscription(definition_id=definition.id, kind=kind,
                                          element_id=element, message_name=name))
        _schedule_timer_starts(session, definition, p.file.name)
        items.append(DeployedItem("process", p.key, definition.version, definition.id, True, p.name,
                                  p.file.name))
    for key, dname, f in bundle.decisions:
        latest = _latest(session, DecisionDefinition, key)
        if latest is not None and latest.content_hash == f.sha256 and not all_versions:
            items.append(DeployedItem("decision", key, latest.version, latest.id, False, latest.name,
                                      latest.resource.name))
            continue
        decision = DecisionDefinition(key=key, version=(latest.version + 1) if latest else 1, name=dname,
                                      deployment_id=deployment.id, resource_id=resource_for(f).id,
                                      content_hash=f.sha256)
        session.add(decision)
        session.flush()
        items.append(DeployedItem("decision", key, decision.version, decision.id, True, dname, f.name))
    for key, schema, f in bundle.forms:
        latest = _latest(session, FormDefinition, key)
        if latest is not None and latest.content_hash == f.sha256 and not all_versions:
            items.append(DeployedItem("form", key, latest.version, latest.id, False, None, latest.resource.name))
            continue
        form = FormDefinition(key=key, version=(latest.version + 1) if latest else 1, schema=schema,
                              deployment_id=deployment.id, resource_id=resource_for(f).id, content_hash=f.sha256)
        session.add(form)
        session.flush()
        items.append(DeployedItem("form", key, form.version, form.id, True, None, f.name))
    if not changed_only:
        for f in files:
            resource_for(f)
    return DeploymentResult(deployment, items, bundle.warnings)


def _schedule_timer_starts(session: Session, definition: ProcessDefinition, filename: str) -> None:
    """Timer start events belong to the latest version only: move them to the new one."""
    older = select(ProcessDefinition.id).where(ProcessDefinition.key == definition.key,
                                               ProcessDefinition.id != definition.id)
    for timer in session.scalars(select(Timer).where(Timer.instance_id.is_(None), Timer.state == "waiting",
                                                     Timer.definition_id.in_(older))):
        timer.state = "cancelled"
    for start in definition.meta["starts"]:
        if not start.get("timer"):
            continue
        from .timers import first_due

        text = start["timer"]["text"]
        try:
            value = compile_template(text).evaluate({})
            due = first_due(start["timer"]["kind"], str(value), clock.now())
        except (EngineError, ValueError) as exc:
            raise DefinitionInvalid([Problem(filename, f"timer start event cannot be scheduled: {exc}",
                                             element_id=start["id"], element_type="startEvent")]) from exc
        if due is not None:
            session.add(Timer(instance_id=None, definition_id=definition.id, task_uuid=None,
                              element_id=start["id"], due_at=due, state="waiting", fire_count=0))


def _latest(session: Session, model, key: str):
    return session.scalars(select(model).where(model.key == key).order_by(model.version.desc()).limit(1)).first()
