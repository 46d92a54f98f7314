"""What a Camunda 7 diagram asks of the JVM, and its script listeners, and what the engine does instead.

Camunda deploys a diagram whose Java it cannot load and fails only when a token gets there; so
does dalad, with a Python way out. `adapt` rewrites the parsed tree (never the stored file) before
the checks and SpiffWorkflow see it, and returns a warning per element:

* `camunda:class`, `delegateExpression`, `expression` (and `camunda:connector`) on a service task,
  send task, business rule task or a message intermediate throw / end event: the element becomes
  an external task of topic `java:<class or expression>` (`java:connector:<id>`), which a Python
  worker fetches and completes, or an administrator completes from the incidents page. A message
  end event becomes that task followed by a plain end.
* A listener's work is put where the listener runs (`places`): before its element (start, a
  task's create), after it (end, complete), in the middle of its flow (take), after each of the
  process's start events (its start) or before each of its end events (its end). There a Java
  listener becomes an external task of topic `java:<class or expression>`, and a Python script
  listener a script task run in the engine's sandbox (engine/scripts.py); a Python create task
  listener may change its task as Camunda's DelegateTask does (task.setAssignee(…),
  addCandidateGroup(…), setDueDate(…), …), which the task's creation applies. A Java listener on
  another event (a task's assignment, …) is skipped with a warning; a Python one is refused.
* A JavaScript or Groovy script (a script task, a script listener on an activity, an event or
  a flow, an input or output parameter: before or after its activity, or the conditions on the
  flows leaving an element: before its gateway or after its activity) becomes an external task
  of topic `script:<format>` that opens an incident when reached; an administrator completes it
  with the variables the script would have set. With the
  setting `dalad.scripts.javascript=refuse` (`DALAD_SCRIPTS_JAVASCRIPT=refuse`) such diagrams are
  refused instead.
* Data stores and data store references are documentation (Camunda 7 runs nothing for them):
  dropped.
"""
from __future__ import annotations

import re
from typing import Optional

from lxml import etree

from .errors import ExpressionError, Problem
from .scripts import compile_script, listener_source
from .validation import task_documentation

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
INCIDENT_ATTRIBUTE = "{urn:dalad}incident"  # on a rewritten element: the incident opened when reached

JAVA_ATTRIBUTES = ("class", "delegateExpression", "expression")
JAVA_ACTIVITIES = ("serviceTask", "sendTask", "businessRuleTask")
FOREIGN_SCRIPTS = frozenset({"javascript", "js", "ecmascript", "nashorn", "graal.js", "groovy"})
PYTHON_SCRIPTS = frozenset({"", "python"})  # what engine/scripts.py runs
SCRIPT_POLICIES = ("incident", "refuse")
_script_policy = "incident"


def set_script_policy(policy: str) -> None:
    """dalad.scripts.javascript: 'incident' (default) or 'refuse'."""
    global _script_policy
    if policy not in SCRIPT_POLICIES:
        raise ValueError(f"dalad.scripts.javascript must be one of {', '.join(SCRIPT_POLICIES)}, not '{policy}'")
    _script_policy = policy


def script_policy() -> str:
    return _script_policy


def _b(local: str) -> str:
    return f"{{{BPMN_NS}}}{local}"


def _c(local: str) -> str:
    return f"{{{CAMUNDA_NS}}}{local}"


def _local(element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


class _Adapter:
    def __init__(self, root, filename: str):
        self.root, self.filename = root, filename
        self.warnings: list[Problem] = []
        self.problems: list[Problem] = []

    def note(self, element, message: str, *, refuse: bool = False) -> None:
        (self.problems if refuse else self.warnings).append(Problem(
            self.filename, message, line=element.sourceline, element_id=element.get("id") or None,
            element_type=_local(element) or None))

    # ---- Java

    def java_of(self, element) -> Optional[tuple[str, str]]:
        """(what, topic) of a Java implementation on `element`, or None."""
        for attribute in JAVA_ATTRIBUTES:
            value = (element.get(_c(attribute)) or "").strip()
            if value:
                return f"camunda:{attribute} '{value}'", f"java:{value}"
        connector = element.find(f"{_b('extensionElements')}/{_c('connector')}")
        if connector is not None:
            connector_id = (connector.findtext(_c("connectorId")) or "").strip() or "?"
            return f"camunda:connector '{connector_id}'", f"java:connector:{connector_id}"
        return None

    @staticmethod
    def drop_java(element) -> None:
        for attribute in JAVA_ATTRIBUTES + ("resultVariable",):
            element.attrib.pop(_c(attribute), None)
        extensions = element.find(_b("extensionElements"))
        if extensions is not None:
            for connector in extensions.findall(_c("connector")):
                extensions.remove(connector)

    @staticmethod
    def make_external(element, topic: str, incident: Optional[str] = None) -> None:
        element.tag = _b("serviceTask")
        element.set(_c("type"), "external")
        element.set(_c("topic"), topic[:200])
        if incident:
            element.set(INCIDENT_ATTRIBUTE, incident)

    def java_activities(self) -> None:
        for element in list(self.root.iter(*(_b(t) for t in JAVA_ACTIVITIES))):
            kind = _local(element)
            found = self.java_of(element)
            if found is not None:
                what, topic = found
                self.note(element, f"needs Java ({what}): when reached it becomes an external task of topic "
                                   f"'{topic[:200]}' for a Python worker (or an administrator completes it)")
                self.drop_java(element)
                self.make_external(element, topic)
            elif kind != "serviceTask" and (element.get(_c("type")) or "").strip() == "external":
                self.make_external(element, element.get(_c("topic")) or "")

    def java_messages(self) -> None:
        for event in list(self.root.iter(_b("intermediateThrowEvent"), _b("endEvent"))):
            definition = event.find(_b("messageEventDefinition"))
            if definition is None:
                continue
            found = self.java_of(definition)
            external = (definition.get(_c("type")) or "").strip() == "external"
            if found is None and not external:
                continue
            topic = found[1] if found else (definition.get(_c("topic")) or "")
            is_end = _local(event) == "endEvent"
            if found:
                self.note(event, f"message {'end' if is_end else 'throw'} event needs Java ({found[0]}): when "
                                 f"reached it becomes an external task of topic '{topic[:200]}' for a Python worker "
                                 "(or an administrator completes it)")
            event.remove(definition)
            self.make_external(event, topic)
            if is_end:
                self.insert(event, "after", _b("endEvent"), f"{event.get('id')}__end")

    # ---- scripts and listeners

    def refused_script(self, element, script_format: str) -> bool:
        if script_policy() == "refuse":
            self.note(element, f"a {script_format} script cannot run here and dalad.scripts.javascript=refuse "
                               "refuses such diagrams; write it in Python", refuse=True)
            return True
        return False

    def foreign_script_tasks(self) -> None:
        for task in list(self.root.iter(_b("scriptTask"))):
            script_format = (task.get("scriptFormat") or "").strip().lower()
            if script_format not in FOREIGN_SCRIPTS or self.refused_script(task, script_format):
                continue
            self.note(task, f"script in {script_format}: when reached it becomes an incident (an administrator "
                            "completes it with the variables the script would set)")
            for script in task.findall(_b("script")):
                task.remove(script)
            task.attrib.pop("scriptFormat", None)
            task.attrib.pop(_c("resultVariable"), None)
            incident = (f"script task '{task.get('id')}' is written in {script_format}, which dalad does not run: "
                        "complete it from the incidents page with the variables the script would set")
            self.make_external(task, f"script:{script_format}", incident)

    def foreign_conditions(self) -> None:
        """JavaScript or Groovy conditions on the flows leaving an element: an incident where they
        are evaluated (before a gateway, after an activity), completed with a variable per flow,
        `take_<flow id>` (true to take it); each condition then reads its variable."""
        by_source: dict[str, list] = {}
        for flow in self.root.iter(_b("sequenceFlow")):
            condition = flow.find(_b("conditionExpression"))
            language = (condition.get("language") or "").strip().lower() if condition is not None else ""
            if language in FOREIGN_SCRIPTS:
                by_source.setdefault((flow.get("sourceRef") or "").strip(), []).append((flow, condition, language))
        for source_id, flows in by_source.items():
            found = self.root.xpath("//*[@id=$id]", id=source_id)
            source = found[0] if found else flows[0][0]
            language = flows[0][2]
            if not found or script_policy() == "refuse":  # (the checks refuse the condition's language)
                continue
            gateway = _local(source).endswith("Gateway")
            if gateway and _local(source) != "exclusiveGateway" and len(source.findall(_b("incoming"))) > 1:
                self.note(source, f"conditions in {language} on a joining {_local(source)} cannot become an incident "
                                  "before it; write them in JUEL or Python", refuse=True)
                continue
            taken = {flow.get("id"): "take_" + re.sub(r"\W", "_", flow.get("id") or "") for flow, _cond, _lang in flows}
            for flow, condition, _language in flows:
                condition.attrib.pop("language", None)
                condition.text = "${" + taken[flow.get("id")] + " == true}"
            variables = ", ".join(f"'{name}' (true to take flow '{flow_id}')" for flow_id, name in taken.items())
            self.script_incident(source, "before" if gateway else "after", f"{language}_conditions",
                                 f"conditions in {language} leaving {source_id}", language,
                                 f"the conditions on the flows leaving '{source_id}' are written in {language}, "
                                 f"which dalad does not run: complete it from the incidents page with {variables}")
            self.note(source, f"conditions in {language} on {', '.join(repr(f) for f in taken)}: when reached they "
                              f"become an incident (an administrator completes it with {variables})")

    def foreign_parameters(self) -> None:
        """A JavaScript or Groovy script in a camunda:inputParameter (outputParameter): an incident
        before (after) its activity, completed with the variable the script would give."""
        for parameter in list(self.root.iter(_c("inputParameter"), _c("outputParameter"))):
            script = parameter.find(_c("script"))
            script_format = (script.get("scriptFormat") or "").strip().lower() if script is not None else ""
            holder = parameter.getparent()
            extensions = holder.getparent() if holder is not None else None
            if extensions is None or _local(extensions) != "extensionElements":
                continue  # a connector's parameters go with its Java (java_activities)
            owner = extensions.getparent()
            if script_format not in FOREIGN_SCRIPTS or owner is None or self.refused_script(owner, script_format):
                continue
            kind = "input" if _local(parameter) == "inputParameter" else "output"
            name = parameter.get("name") or ""
            holder.remove(parameter)
            self.script_incident(owner, "before" if kind == "input" else "after", f"{kind}_{name}_{script_format}",
                                 f"{kind} parameter {name} of {owner.get('id')} in {script_format}", script_format,
                                 f"{kind} parameter '{name}' of '{owner.get('id')}' is written in {script_format}, "
                                 f"which dalad does not run: complete it from the incidents page with the variable "
                                 f"'{name}'")
            self.note(owner, f"{kind} parameter '{name}' in {script_format}: when reached it becomes an incident (an "
                             f"administrator completes it with the variable '{name}')")

    # Camunda's order at an element: execution start, task create, (the task), task complete, execution end
    RUN_ORDER = {("execution listener", "start"): 0, ("task listener", "create"): 1,
                 ("task listener", "complete"): 2, ("execution listener", "end"): 3}

    def listeners(self) -> None:
        found = []
        for index, listener in enumerate(self.root.iter(_c("executionListener"), _c("taskListener"))):
            extensions = listener.getparent()
            owner = extensions.getparent() if extensions is not None else None
            if owner is None:
                continue
            kind = "task listener" if _local(listener) == "taskListener" else "execution listener"
            event = (listener.get("event") or "").strip() or "start"
            places = self.places(owner, kind, event)
            found.append((places[0][1] if places else "before", self.RUN_ORDER.get((kind, event), 0), index,
                          listener, owner, kind, event))
        # Each is put in next to its place: one after another in run order before it, and in reverse
        # run order after it (or in a flow's middle), where the last put in runs first.
        befores = sorted(f for f in found if f[0] == "before")
        afters = sorted((f for f in found if f[0] != "before"), reverse=True)
        said: dict[int, tuple[list, list]] = {}  # what each says, given in the file's order below
        for _position, _rank, index, listener, owner, kind, event in befores + afters:
            warnings, problems = len(self.warnings), len(self.problems)
            self.listener(listener, owner, kind, event)
            said[index] = (self.warnings[warnings:], self.problems[problems:])
            del self.warnings[warnings:], self.problems[problems:]
        for index in sorted(said):
            self.warnings += said[index][0]
            self.problems += said[index][1]

    def listener(self, listener, owner, kind: str, event: str) -> None:
        extensions = listener.getparent()
        java = next(((f"{a} '{listener.get(a).strip()}'", f"java:{listener.get(a).strip()}")
                     for a in JAVA_ATTRIBUTES if (listener.get(a) or "").strip()), None)
        script = listener.find(_c("script"))
        script_format = (script.get("scriptFormat") or "").strip().lower() if script is not None else ""
        if java is not None:
            extensions.remove(listener)
            self.java_listener(owner, kind, event, java)
        elif script is not None and script_format in PYTHON_SCRIPTS:
            extensions.remove(listener)
            self.python_listener(owner, kind, event, script)
        elif script_format in FOREIGN_SCRIPTS and not self.refused_script(owner, script_format):
            extensions.remove(listener)
            self.script_listener(owner, kind, event, script_format)

    def java_listener(self, owner, kind: str, event: str, java: tuple[str, str]) -> None:
        """A Java listener: an external task of its `java:` topic at its place, for a Python worker."""
        what, topic = java
        places = self.places(owner, kind, event)
        if not places:
            self.note(owner, f"{event} {kind} needs Java ({what}): skipped ({self.NOWHERE})")
            return
        for place, position in places:
            task = self.insert(place, position, _b("serviceTask"), self.inserted_id(place, f"{event}_java_listener"))
            task.set("name", f"{event} {kind} of {owner.get('id')} (Java)")
            self.make_external(task, topic)
        self.note(owner, f"{event} {kind} needs Java ({what}): when reached it becomes an external task of topic "
                         f"'{topic[:200]}' for a Python worker (or an administrator completes it)")

    def python_listener(self, owner, kind: str, event: str, script) -> None:
        """A Python script listener runs in the engine's sandbox: a script task at its place."""
        where = f"the Python {event} {kind}"
        if script.get("resource"):
            self.note(owner, f"{where}: external script (resource '{script.get('resource')}') is not supported; "
                             "put the script in the diagram", refuse=True)
            return
        text = script.text or ""
        creates = kind == "task listener" and event == "create" and _local(owner) == "userTask"
        if creates:  # it may set the task's assignee, candidates, dates, … (engine/scripts.py)
            text = listener_source(text, self.task_facts(owner)) if text.strip() else text
        try:
            compiled = compile_script(text)
        except ExpressionError as exc:
            self.note(owner, f"{where}: script does not compile: {exc}", refuse=True)
            return
        changes = sorted(compiled.task_methods - {"getExecution"})
        if changes and owner.find(_b("multiInstanceLoopCharacteristics")) is not None:
            self.note(owner, f"{where}: task.{changes[0]}() cannot be used on a multi-instance task: the listener "
                             "runs once before all its instances; give each instance its assignee with "
                             "camunda:assignee and the element variable", refuse=True)
            return
        if owner.find(_b("multiInstanceLoopCharacteristics")) is not None:
            self.note(owner, f"{where} cannot run on a multi-instance activity: Camunda runs it for each instance "
                             "(with its element variable), the engine would run it once around all of them; put "
                             "the work in a listener of an activity before or after it", refuse=True)
            return
        places = self.places(owner, kind, event)
        if not places:
            hint = ("; to assign a task in Python, use a create listener (task.setAssignee(…))"
                    if kind == "task listener" and event in ("assignment", "update") else "")
            self.note(owner, f"{where} cannot run: {self.NOWHERE}{hint}", refuse=True)
            return
        for place, position in places:
            task = self.insert(place, position, _b("scriptTask"), self.inserted_id(place, f"{event}_python_listener"))
            task.set("name", f"{event} {kind} of {owner.get('id')}")
            task.set("scriptFormat", "python")
            etree.SubElement(task, _b("script")).text = text

    @staticmethod
    def task_facts(owner) -> dict:
        """What a create listener's getters read of its user task when it has not set them: its id
        and its attributes as the diagram writes them (expressions are evaluated when read)."""
        return {"key": owner.get("id"), "name": owner.get("name"), "assignee": owner.get(_c("assignee")),
                "priority": owner.get(_c("priority")), "due": owner.get(_c("dueDate")),
                "followUp": owner.get(_c("followUpDate")), "description": task_documentation(owner)}

    NOWHERE = ("listeners run on an element's start and end, a flow's take, a task's create and complete, the "
               "process's start and end")

    @staticmethod
    def places(owner, kind: str, event: str) -> list[tuple[object, str]]:
        """Where a listener's work goes, as (element, position): before its element (start,
        create), after it (end, complete), in the middle of a flow (take); the process's start
        after each of its start events, its end before each of its end events. [] where it
        cannot go (another event)."""
        owner_kind = _local(owner)
        if owner_kind == "process":
            if event == "start":
                return [(start, "after") for start in owner.findall(_b("startEvent"))]
            return [(end, "before") for end in owner.findall(_b("endEvent"))] if event == "end" else []
        if owner_kind == "sequenceFlow":
            return [(owner, "middle")] if event == "take" else []
        if event not in (("create", "complete") if kind == "task listener" else ("start", "end")):
            return []
        before = event in ("start", "create")
        if owner_kind in ("startEvent", "boundaryEvent"):
            before = False
        elif owner_kind == "endEvent":
            before = True
        return [(owner, "before" if before else "after")]

    def inserted_id(self, owner, what: str) -> str:
        """An id for an element put in for `owner`'s `what`, unused in the file."""
        new_id, suffix = f"{owner.get('id')}__{what}", 1
        while self.root.xpath("//*[@id=$id]", id=new_id):
            suffix += 1
            new_id = f"{owner.get('id')}__{what}{suffix}"
        return new_id

    def script_listener(self, owner, kind: str, event: str, script_format: str) -> None:
        places = self.places(owner, kind, event)
        if not places:
            self.note(owner, f"{event} {kind} in {script_format}: not run ({self.NOWHERE})")
            return
        incident = (f"{event} {kind} of '{owner.get('id')}' is written in {script_format}, which dalad does not run: "
                    "complete it from the incidents page with the variables the script would set")
        for place, position in places:
            self.script_incident(place, position, f"{event}_{script_format}_listener",
                                 f"{event} {kind} of {owner.get('id')} in {script_format}", script_format, incident)
        self.note(owner, f"{event} {kind} in {script_format}: when reached it becomes an incident (an administrator "
                         "completes it with the variables the script would set)")

    def script_incident(self, place, position: str, what: str, name: str, script_format: str, incident: str):
        """Put in, at `position` of `place`, a task named `name` that opens `incident` when
        reached: an external task of topic `script:<format>` with no retries."""
        task = self.insert(place, position, _b("serviceTask"), self.inserted_id(place, what))
        task.set("name", name)
        self.make_external(task, f"script:{script_format}", incident)

    # ---- flow surgery

    def insert(self, owner, position: str, tag: str, new_id: str):
        """A new element `tag` before or after `owner` (a flow node), or in the middle of `owner`
        (a sequence flow), rewiring the sequence flows; returns it."""
        parent = owner.getparent()
        flows = {f.get("id"): f for f in parent.findall(_b("sequenceFlow"))}
        nodes = {n.get("id"): n for n in parent if isinstance(n.tag, str) and n.get("id")}
        new = etree.SubElement(parent, tag, id=new_id)
        new.sourceline = owner.sourceline
        link_id = f"{new_id}__flow"
        link = etree.SubElement(parent, _b("sequenceFlow"), id=link_id)
        link.sourceline = owner.sourceline

        def ref(node, direction: str, flow_id: str) -> None:
            if node is not None:
                etree.SubElement(node, _b(direction)).text = flow_id

        def move_ref(node, direction: str, old: str, new_flow: str) -> None:
            for element in (node.findall(_b(direction)) if node is not None else []):
                if (element.text or "").strip() == old:
                    element.text = new_flow

        if position == "middle":
            target = nodes.get((owner.get("targetRef") or "").strip())
            owner.set("targetRef", new_id)
            move_ref(target, "incoming", owner.get("id"), link_id)
            link.set("sourceRef", new_id)
            link.set("targetRef", target.get("id") if target is not None else "")
            ref(new, "incoming", owner.get("id"))
            ref(new, "outgoing", link_id)
        else:  # the owner's incoming (before) or outgoing (after) flows move to the new element
            before = position == "before"
            side, end_attribute = ("incoming", "targetRef") if before else ("outgoing", "sourceRef")
            for moved in owner.findall(_b(side)):
                flow = flows.get((moved.text or "").strip())
                if flow is not None:
                    flow.set(end_attribute, new_id)
                    ref(new, side, flow.get("id"))
                owner.remove(moved)
            if not before and owner.get("default"):
                new.set("default", owner.attrib.pop("default"))
            link.set("sourceRef", new_id if before else owner.get("id"))
            link.set("targetRef", owner.get("id") if before else new_id)
            ref(new, "outgoing" if before else "incoming", link_id)
            ref(owner, "incoming" if before else "outgoing", link_id)
        return new

    # ---- data stores

    def data_stores(self) -> None:
        for reference in list(self.root.iter(_b("dataStoreReference"))):
            reference_id = reference.get("id")
            reference.getparent().remove(reference)
            for association in list(self.root.iter(_b("dataInputAssociation"), _b("dataOutputAssociation"))):
                refs = [(r.text or "").strip() for r in association.findall(_b("sourceRef"))] + \
                       [(r.text or "").strip() for r in association.findall(_b("targetRef"))]
                if reference_id in refs:
                    association.getparent().remove(association)
        for store in list(self.root.iter(_b("dataStore"))):
            store.getparent().remove(store)


def adapt(root, filename: str) -> tuple[list[Problem], list[Problem]]:
    """Rewrite the parsed BPMN tree `root` in place (see the module docstring); return
    (warnings, problems): what deploys with a warning, what is refused."""
    adapter = _Adapter(root, filename)
    adapter.data_stores()
    adapter.listeners()
    adapter.foreign_parameters()
    adapter.foreign_conditions()
    adapter.java_activities()
    adapter.java_messages()
    adapter.foreign_script_tasks()
    return adapter.warnings, adapter.problems
