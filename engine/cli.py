"""The `dalad` command: set up the database, deploy diagrams, work on instances, tasks and users.

Each command parses its arguments and calls the services in one transaction. A user mistake
(bad arguments, an engine refusal, an unreachable database) prints one line
`dalad: error: ...` on stderr and exits 1.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional

from sqlalchemy.exc import InterfaceError, OperationalError

from forms import submission

from . import bureaus, clock, names, services, tokens, users
from .config import Settings, open_engine, sqlite_folder
from .database import MIGRATIONS, Database
from .definitions import BundleFile
from .errors import AccessDenied, DefinitionInvalid, EngineError, InvalidInput

PROG = "dalad"
DIAGRAM_SUFFIXES = (".bpmn", ".dmn", ".form")
DEMO_PASSWORD = "demo1234"
DEMO_UNITS = (("unit:edu", "旗教育体育局"), ("unit:health", "旗卫生健康委员会"))


class UsageError(Exception):
    """A mistake on the command line or in its input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        command = self.prog.removeprefix(PROG).strip()
        raise UsageError(f"{command}: {message}" if command else message)


# --- entry point -------------------------------------------------------------------------------

def main(argv: Optional[list[str]] = None) -> int:
    """Run one `dalad` command; return the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    for arg in argv:  # bytes that are not UTF-8 come as lone surrogates, which no database stores
        if any("\ud800" <= ch <= "\udfff" or ch == "\x00" for ch in arg):
            try:
                shown = repr(arg.encode("utf-8", "surrogateescape"))[1:]  # the bytes given: 'li\xff'
            except UnicodeEncodeError:
                shown = ascii(arg)
            return _fail(f"argument {shown} is not UTF-8 text: names, values and paths are read as UTF-8 "
                         "(check the terminal's encoding, LANG=C.UTF-8)")
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _fail(exc)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if getattr(args, "handler", None) is None:
        return _fail(f"give a command: {', '.join(parser.commands)} (dalad --help)")
    db: Optional[Database] = None
    where = "the database"
    try:
        production = getattr(args, "production", False)  # dalad serve --production
        settings = Settings.from_env(environment="production" if production else "development")
        where = f"database {settings.display_url}"
        db = open_engine(settings)
        if args.needs_schema:
            _require_schema(db, where)
        return args.handler(args, settings, db) or 0
    except DefinitionInvalid as exc:
        print(f"{PROG}: error: deployment refused, {len(exc.problems)} problem"
              f"{'' if len(exc.problems) == 1 else 's'}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except (EngineError, UsageError) as exc:
        return _fail(exc)
    except (OperationalError, InterfaceError) as exc:
        return _fail(f"{where} cannot be used: {_first_line(exc.orig if exc.orig is not None else exc)}")
    except KeyboardInterrupt:
        return 130
    finally:
        if db is not None:
            db.dispose()


def _fail(message) -> int:
    text = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"{PROG}: error: {text}", file=sys.stderr)
    return 1


def _first_line(exc) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _require_schema(db: Database, where: str) -> None:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    if current is None:
        raise UsageError(f"{where} has no dalad tables yet: run `dalad init-db`")
    if current != head:
        raise UsageError(f"{where} is at schema revision {current}, this dalad needs {head}: run `dalad init-db`")


# --- arguments ---------------------------------------------------------------------------------

def build_parser() -> _Parser:
    parser = _Parser(prog=PROG, description="Dalad digital-city project workflows (BPMN engine).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name, handler, help, *, needs_schema=True, parent=sub):
        p = parent.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler, needs_schema=needs_schema)
        return p

    command("init-db", cmd_init_db, "create or upgrade the tables and add the bureaus", needs_schema=False)

    p = command("deploy", cmd_deploy, "deploy .bpmn/.dmn/.form files (a folder: every such file in it)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--user", help="who deploys (recorded in the history)")

    p = command("start", cmd_start, "start the latest version of a process")
    p.add_argument("key", metavar="KEY", help="process id")
    p.add_argument("--business-key", required=True, metavar="K")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="a variable; VALUE is read as JSON when it parses (1500, true, \"1\"), else as text")
    p.add_argument("--user", help="who starts it (an existing user)")
    p.add_argument("--override", metavar="REASON",
                   help="an administrator (--user) starts without the start form's checks; the reason is kept "
                        "in the history")

    p = command("tasks", cmd_tasks, "list ready tasks, of some groups or a user, or all")
    p.add_argument("--group", action="extend", nargs="+", default=[], metavar="G")
    p.add_argument("--user", metavar="U", help="the tasks this user may work on (with the user's bureaus)")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = command("complete", cmd_complete, "complete a ready task as a user of its bureau")
    p.add_argument("task_id", type=int, metavar="TASK_ID")
    p.add_argument("--user", required=True, metavar="U")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--reason", metavar="TEXT", help="why (recorded when an administrator completes a task "
                   "that is not offered to them)")
    p.add_argument("--override", metavar="REASON",
                   help="an administrator completes without the form's checks; the reason is kept in the history")

    p = command("reassign", cmd_reassign, "hand a ready task to another user (its assignee or an administrator)")
    p.add_argument("task_id", type=int, metavar="TASK_ID")
    p.add_argument("--to", metavar="USER", help="the new assignee (none: back to its candidates)")
    p.add_argument("--user", required=True, metavar="U", help="who hands it over")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded in the history)")

    p = command("users", None, "manage users")
    users_sub = p.add_subparsers(dest="users_command", parser_class=_Parser, required=True)
    p = command("add", cmd_users_add, "add a user", parent=users_sub)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--bureau", action="extend", nargs="+", default=[], metavar="GROUP",
                   help="an existing group (`dalad groups list`: the 办法's bureaus and those added) or unit:<dept>")
    p.add_argument("--role", action="extend", nargs="+", default=[], metavar="ROLE",
                   choices=bureaus.ROLES)
    p.add_argument("--password-stdin", action="store_true", required=True,
                   help="read the password from the first line of standard input")
    p.add_argument("--first-name", metavar="X", help="given name (Camunda's firstName), e.g. 三")
    p.add_argument("--last-name", metavar="X", help="family name (Camunda's lastName), e.g. 张: shown as 张三")
    p.add_argument("--email", metavar="ADDRESS", help="e-mail address, e.g. zhangsan@dalad.gov.cn")
    p.add_argument("--actor", help="who adds the user (recorded in the history)")
    command("list", cmd_users_list, "list users", parent=users_sub)
    p = command("set-password", cmd_users_set_password, "give a user a new password", parent=users_sub)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--password-stdin", action="store_true", required=True)
    p.add_argument("--actor")

    p = command("groups", None, "manage groups (bureaus: the candidate groups of the diagrams)")
    groups_sub = p.add_subparsers(dest="groups_command", parser_class=_Parser, required=True)
    p = command("add", cmd_groups_add, "add a group", parent=groups_sub)
    p.add_argument("group_id", metavar="ID")
    p.add_argument("--name-zh", required=True, metavar="NAME")
    p.add_argument("--name-en", metavar="NAME")
    p.add_argument("--actor", help="who adds it (recorded in the history)")
    command("list", cmd_groups_list, "list groups", parent=groups_sub)
    p = command("rename", cmd_groups_rename, "give a group a new name", parent=groups_sub)
    p.add_argument("group_id", metavar="ID")
    p.add_argument("--name-zh", metavar="NAME")
    p.add_argument("--name-en", metavar="NAME")
    p.add_argument("--actor")
    for action, help_text in (("deactivate", "deactivate a group (no new members; tasks and members stay)"),
                              ("activate", "activate a deactivated group")):
        p = command(action, cmd_groups_active, help_text, parent=groups_sub)
        p.add_argument("group_id", metavar="ID")
        p.add_argument("--actor")

    p = command("tokens", None, "API tokens of the REST API (an administrator issues and revokes them)")
    tokens_sub = p.add_subparsers(dest="tokens_command", parser_class=_Parser, required=True)
    p = command("create", cmd_tokens_create, "issue a bearer token to a user (printed once)", parent=tokens_sub)
    p.add_argument("user", metavar="USER")
    p.add_argument("--name", metavar="N", help="what the token is for (a machine, a tool)")
    p.add_argument("--actor", help="who issues it (recorded in the history)")
    p = command("list", cmd_tokens_list, "list tokens (never their values)", parent=tokens_sub)
    p.add_argument("--user", metavar="U")
    p = command("revoke", cmd_tokens_revoke, "revoke a token", parent=tokens_sub)
    p.add_argument("token_id", type=int, metavar="ID")
    p.add_argument("--actor", help="who revokes it (recorded in the history)")

    p = command("timers", None, "timers")
    timers_sub = p.add_subparsers(dest="timers_command", parser_class=_Parser, required=True)
    command("fire-due", cmd_timers_fire_due, "fire every due timer now", parent=timers_sub)

    p = command("history", None, "the chained history of instances")
    history_sub = p.add_subparsers(dest="history_command", parser_class=_Parser, required=True)
    p = command("verify", cmd_history_verify, "check each instance's chain, then re-execute it and compare "
                "the state after every event (exit 1 on any failure)", parent=history_sub)
    p.add_argument("ids", nargs="*", type=int, metavar="INSTANCE")
    p.add_argument("--all", action="store_true", help="every instance, and the system and access chains")
    p.add_argument("--progress-every", type=int, default=50, metavar="N",
                   help="report progress on stderr every N instances (default 50)")
    p.add_argument("--anchor", metavar="FILE", help="with --all: prove every chain FILE anchored still holds "
                   "its anchored head (nothing deleted since)")
    p = command("anchor", cmd_history_anchor, "print a signed, dated statement of every chain's head "
                "(keep it outside the database; daily from cron)", parent=history_sub)
    p.add_argument("--output", metavar="FILE", help="also write it to FILE")
    p.add_argument("--actor", help="who takes it (recorded in the history)")
    for actions in (users_sub, groups_sub, tokens_sub, timers_sub, history_sub):  # name the actions in "required" messages
        actions.metavar = "{" + ",".join(actions.choices) + "}"

    p = command("demo-seed", cmd_demo_seed, f"add demo users for every bureau (password {DEMO_PASSWORD})")
    p.add_argument("--yes-demo", action="store_true", help="allowed without DALAD_DEMO=1")
    p.add_argument("--projects", action="store_true",
                   help="also start demo projects of the 办法 at several stages (needs bpmn/ deployed)")

    p = command("serve", cmd_serve, "run the web server and the timer scheduler")
    p.add_argument("--host", help="default 127.0.0.1; in production from DALAD_BIND")
    p.add_argument("--port", type=int, help="default 5000; in production from DALAD_BIND")
    p.add_argument("--demo", action="store_true", help="demo mode (demo accounts may log in)")
    p.add_argument("--production", action="store_true", help="production mode (DALAD_ENV's default), "
                   "DALAD_WORKERS processes on DALAD_BIND, access log (README: Production)")

    parser.commands = list(sub.choices)
    return parser


def parse_variables(items: list[str]) -> dict:
    """Read `name=value` items; a value is JSON when it parses, else text."""
    variables: dict = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--var {item!r}: write NAME=VALUE (amount=1500, approved=true, unit=edu)")
        if name in variables:
            raise UsageError(f"--var {name} is given twice")
        try:
            variables[name] = json.loads(raw, parse_constant=_no_constant)
        except ValueError:
            variables[name] = raw
        except RecursionError:
            raise UsageError(f"--var {name}: the value nests too deeply") from None
    return variables


def _no_constant(name):
    raise ValueError(name)  # NaN and Infinity stay text


# --- commands ----------------------------------------------------------------------------------

def cmd_init_db(args, settings: Settings, db: Database) -> int:
    db.upgrade()
    with db.write() as session:
        added = bureaus.ensure_bureaus(session)
    print(f"database {settings.display_url} is up to date")
    print(f"bureaus: {len(added)} added, {len(bureaus.BUREAUS) - len(added)} already there")
    warning = key_beside_database(settings)
    if warning:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    return 0


def key_beside_database(settings: Settings) -> Optional[str]:
    """In development outside demo mode, the history key file in the same folder as the SQLite
    file means one copy (a backup, a stolen disk image) holds both the history and the key that
    proves it (production mode refuses it: engine/config.py)."""
    if settings.demo or settings.history_key_file is None:
        return None
    folder = sqlite_folder(settings.database_url)
    key_file = settings.history_key_file.resolve()
    if folder is None or key_file.parent != folder:
        return None
    return (f"the history key {key_file} is in the same folder as the database {folder}: whoever "
            "copies the folder can rewrite history undetectably; set DALAD_HISTORY_KEY from a secret "
            "store or DALAD_HISTORY_KEY_FILE to another folder (DALAD_ENV=production refuses to start so)")


def cmd_deploy(args, settings: Settings, db: Database) -> int:
    files = read_bundle(args.paths)
    name = Path(args.paths[0]).resolve().name or args.paths[0]
    with db.write() as session:
        if args.user:
            users.get_user(session, args.user)
        result = services.deploy(session, files, name=name, source="dalad deploy", user=args.user)
        lines = [f"{item.key}  version {item.version}  ({'new' if item.new else 'unchanged'})"
                 for item in result.items]
        warnings = [f"warning: {w}" for w in result.warnings]
    print("\n".join(lines) if lines else "nothing to deploy")
    for line in warnings:
        print(line)
    return 0


def read_bundle(paths: list[str]) -> list[BundleFile]:
    """The files to deploy: files as given, folders as every diagram, decision and form inside, sorted."""
    files: list[BundleFile] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted((p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DIAGRAM_SUFFIXES
                            and not any(part.startswith(".") for part in p.relative_to(path).parts)),
                           key=lambda p: p.relative_to(path).as_posix())
            if not found:
                raise UsageError(f"{raw}: no {', '.join(DIAGRAM_SUFFIXES)} files in this folder")
            files += [BundleFile(p.relative_to(path).as_posix(), _read(p)) for p in found]
        elif path.exists():
            files.append(BundleFile(path.name, _read(path)))
        else:
            raise UsageError(f"{raw}: no such file or folder")
    return files


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from exc


def cmd_start(args, settings: Settings, db: Database) -> int:
    variables = parse_variables(args.var)
    with db.write() as session:
        user = users.get_user(session, args.user) if args.user else None
        form_override, business_key = None, args.business_key
        if args.override is not None:
            form_override = _override_reason(user, args.override, "start a process without its start form's checks")
        else:
            submitted = submission.check_start(session, services.process_definition(session, args.key), variables,
                                               user.groups if user else (),
                                               is_admin=user is not None and bureaus.ADMIN in user.role_names,
                                               business_key=args.business_key)
            if not submitted.ok:
                raise InvalidInput(f"the start form of '{args.key}': {submitted.problems()}")
            variables, business_key = submitted.variables, submitted.business_key
        row = services.start_process(session, args.key, business_key=business_key,
                                     variables=variables, user=args.user, form_override=form_override)
        line = f"{row.id}  {row.status}"
    print(line)
    return 0


def cmd_tasks(args, settings: Settings, db: Database) -> int:
    with db.read() as session:
        groups = list(args.group)
        if args.user:
            groups += users.get_user(session, args.user).groups
        filtered = bool(args.group or args.user)
        rows = [task_dict(t) for t in services.tasks(session, groups=groups if filtered else None,
                                                     user=args.user)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for t in rows:
        print("  ".join(str(v) for v in (
            t["id"], t["instance_id"], t["element_id"], t["name"] or "-", ",".join(t["candidate_groups"]) or "-",
            t["assignee"] or "-", t["due"] or "-")))
    return 0


def task_dict(task) -> dict:
    return {"id": task.id, "instance_id": task.instance_id, "process_key": task.process_key,
            "business_key": task.business_key, "element_id": task.element_id, "name": task.name,
            "candidate_groups": list(task.candidate_groups or []),
            "candidate_users": list(task.candidate_users or []), "assignee": task.assignee,
            "priority": task.priority, "created": _iso(task.created_at), "due": _iso(task.due_at)}


def _iso(moment) -> Optional[str]:
    return None if moment is None else clock.aware(moment).astimezone(clock.local_zone()).isoformat()


def _override_reason(user, reason: str, what: str) -> str:
    """An administrator's reason for skipping a form's checks, as the history keeps it."""
    if user is None or bureaus.ADMIN not in user.role_names:
        raise AccessDenied(f"{user.name if user else 'nobody (no --user)'} may not {what}: that needs the admin role")
    if not reason.strip():
        raise UsageError("--override needs the reason")
    return f"{reason.strip()} ({user.name})"


def cmd_complete(args, settings: Settings, db: Database) -> int:
    data = parse_variables(args.var)
    with db.write() as session:
        user = users.get_user(session, args.user)
        if not user.active:
            raise AccessDenied(f"user '{user.name}' is deactivated")
        form_override = None
        if args.override is not None:
            form_override = _override_reason(user, args.override, "complete a task without its form's checks")
        else:
            submitted = submission.check(session, services.user_task(session, args.task_id), data, typed_values=True)
            if not submitted.ok:
                raise InvalidInput(f"task {args.task_id}: {submitted.problems()}")
            data = submitted.variables
        row = services.complete_task(session, args.task_id, user=user.name, data=data, groups=user.groups,
                                     roles=user.role_names, reason=args.reason, form_override=form_override)
        line = f"task {args.task_id} completed; instance {row.id}  {row.status}"
    print(line)
    return 0


def cmd_reassign(args, settings: Settings, db: Database) -> int:
    with db.write() as session:
        user = users.get_user(session, args.user)
        if not user.active:
            raise AccessDenied(f"user '{user.name}' is deactivated")
        services.reassign_task(session, args.task_id, actor=user.name, to_user=args.to, reason=args.reason,
                               groups=user.groups, roles=user.role_names)
    print(f"task {args.task_id} " + (f"assigned to {args.to}" if args.to else "given back to its candidates"))
    return 0


def cmd_users_add(args, settings: Settings, db: Database) -> int:
    try:
        profile = users.profile_checked(args.first_name, args.last_name, args.email)
    except users.ProfileInvalid as exc:
        raise UsageError(f"--{exc.field.replace('_', '-')} {exc.reason}") from exc
    password = read_password()
    with db.write() as session:
        user = users.add_user(session, args.name, password, bureaus=args.bureau, roles=args.role,
                              profile=profile, actor=args.actor)
        line = f"user {user.name} added: {_user_line(user)}"
    print(line)
    return 0


def cmd_users_list(args, settings: Settings, db: Database) -> int:
    with db.read() as session:
        lines = [f"{u.name}  {_user_line(u)}" for u in users.list_users(session)]
    for line in lines:
        print(line)
    return 0


def _user_line(user) -> str:
    flags = [f for f, on in (("demo", user.is_demo), ("inactive", not user.active)) if on]
    return "  ".join([user.display_name or "-", user.email or "-", ",".join(user.groups) or "-",
                      ",".join(user.role_names) or "-", *flags])


def _group_names_checked(args) -> None:
    """Refuse --name-zh or --name-en holding a character no name may hold (engine/names.py), naming the option."""
    for option, value in (("--name-zh", args.name_zh), ("--name-en", args.name_en)):
        try:
            names.check_name((value or "").strip(), option)
        except names.NameUnreadable as exc:
            raise UsageError(str(exc)) from exc


def cmd_groups_add(args, settings: Settings, db: Database) -> int:
    _group_names_checked(args)
    with db.write() as session:
        group = bureaus.add_group(session, args.group_id, name_zh=args.name_zh, name_en=args.name_en,
                                  actor=args.actor)
        line = f"group {group.id} added: {_group_line(group)}"
    print(line)
    return 0


def cmd_groups_list(args, settings: Settings, db: Database) -> int:
    with db.read() as session:
        lines = [f"{g.id}  {_group_line(g)}" for g in bureaus.list_groups(session)]
    print("\n".join(lines) if lines else "no groups: run `dalad init-db`")
    return 0


def cmd_groups_rename(args, settings: Settings, db: Database) -> int:
    if args.name_zh is None and args.name_en is None:
        raise UsageError("give --name-zh and/or --name-en")
    _group_names_checked(args)
    with db.write() as session:
        group = bureaus.rename_group(session, args.group_id, name_zh=args.name_zh, name_en=args.name_en,
                                     actor=args.actor)
        line = f"group {group.id} renamed: {_group_line(group)}"
    print(line)
    return 0


def cmd_groups_active(args, settings: Settings, db: Database) -> int:
    active = args.groups_command == "activate"
    with db.write() as session:
        bureaus.set_group_active(session, args.group_id, active, actor=args.actor)
    print(f"group {args.group_id} {'activated' if active else 'deactivated'}")
    return 0


def _group_line(group) -> str:
    return "  ".join([group.name_zh, group.name_en or "-", *(["inactive"] if not group.active else [])])


def cmd_users_set_password(args, settings: Settings, db: Database) -> int:
    password = read_password()
    with db.write() as session:
        users.set_password(session, args.name, password, actor=args.actor)
    print(f"password of {args.name} changed")
    return 0


def read_password() -> str:
    """The first line of standard input (asked for without echo on a terminal)."""
    stream = sys.stdin
    if stream is None:
        raise UsageError("--password-stdin: there is no standard input")
    if stream.isatty():
        return getpass.getpass("password: ")
    line = stream.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise UsageError("--password-stdin: standard input has no password on its first line")
    return password


def cmd_tokens_create(args, settings: Settings, db: Database) -> int:
    with db.write() as session:
        token, plaintext = tokens.issue_token(session, args.user, args.name, actor=args.actor)
        token_id = token.id
    print(f"token {token_id} for {args.user} (shown only now; keep it secret):")
    print(plaintext)
    return 0


def cmd_tokens_list(args, settings: Settings, db: Database) -> int:
    with db.read() as session:
        lines = ["  ".join((str(token.id), user, token.name or "-", _iso(token.created_at),
                            _iso(token.last_used_at) or "never used",
                            f"revoked {_iso(token.revoked_at)}" if token.revoked_at else "active"))
                 for token, user in tokens.list_tokens(session, args.user)]
    for line in lines:
        print(line)
    return 0


def cmd_tokens_revoke(args, settings: Settings, db: Database) -> int:
    with db.write() as session:
        tokens.revoke_token(session, args.token_id, actor=args.actor)
    print(f"token {args.token_id} revoked")
    return 0


def cmd_timers_fire_due(args, settings: Settings, db: Database) -> int:
    fired = services.fire_due_timers(db)
    print(f"{fired} timer{'' if fired == 1 else 's'} fired")
    return 0


def cmd_history_verify(args, settings: Settings, db: Database) -> int:
    """One line per instance: OK, or the first event where the chain breaks or the re-execution
    diverges; with --all the system and access chains too."""
    from . import audit, history

    if bool(args.ids) == bool(args.all):
        raise UsageError("history verify: give instance ids or --all (not both)")
    if args.progress_every < 1:
        raise UsageError("history verify: --progress-every must be at least 1")
    if args.anchor and not args.all:
        raise UsageError("history verify: --anchor goes with --all")
    signed = _read_anchor(args.anchor) if args.anchor else None
    with db.read() as session:
        ids = audit.instances_to_verify(session, args.ids or None)
    failed = 0
    for done, instance_id in enumerate(ids, start=1):
        try:
            with db.read(snapshot=True) as session:
                result = audit.verify_instance(session, instance_id, heads=not args.all)
        except Exception as exc:  # noqa: BLE001 - one unreadable instance must not stop the proof of the others
            result = audit.unverifiable(instance_id, None, exc)
        failed += not result.ok
        print(result, flush=True)
        if len(ids) > args.progress_every and (done % args.progress_every == 0 or done == len(ids)):
            print(f"verified {done}/{len(ids)} instances, {failed} failed", file=sys.stderr, flush=True)
    if args.all:
        with db.read(snapshot=True) as session:
            chains = [history.verify_system_chain(session), history.verify_chain(session, audit.ACCESS_CHAIN),
                      *history.verify_heads(session), audit.verify_timer_occurrences(session),
                      audit.check_creations(session), audit.check_inbox_counts(session)]
        for report in chains:
            failed += not report.ok
            print(report)
    if signed is not None:
        from . import anchors
        with db.read() as session:
            anchor_report = anchors.check(session, signed)
        failed += not anchor_report.ok
        for line in anchor_report.lines:
            print(line)
    print(f"{len(ids)} instance{'' if len(ids) == 1 else 's'} verified: "
          f"{'all OK' if not failed else f'{failed} FAILED'}")
    return 1 if failed else 0


def _read_anchor(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"history verify: cannot read the anchor {path}: {exc}") from None


def cmd_history_anchor(args, settings: Settings, db: Database) -> int:
    from . import anchors

    with db.write() as session:
        signed = anchors.take(session, actor=args.actor)
    text = json.dumps(signed, ensure_ascii=False, indent=1)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def demo_accounts() -> list[dict]:
    """One demo user per bureau and demo unit, an administrator and an auditor."""
    accounts = [{"name": b.id, "bureaus": [b.id], "roles": [], "first_name": f"{b.name_zh}（演示）"}
                for b in bureaus.BUREAUS]
    accounts += [{"name": group.split(":", 1)[1], "bureaus": [group], "roles": [],
                  "first_name": f"{name}（演示）"} for group, name in DEMO_UNITS]
    accounts += [{"name": "admin", "bureaus": [], "roles": [bureaus.ADMIN], "first_name": "流程管理员（演示）"},
                 {"name": "auditor", "bureaus": [], "roles": [bureaus.AUDITOR], "first_name": "审计员（演示）"}]
    return accounts


def cmd_demo_seed(args, settings: Settings, db: Database) -> int:
    if not (settings.demo or args.yes_demo):
        raise UsageError(f"demo-seed makes accounts with the published password {DEMO_PASSWORD}: "
                         "set DALAD_DEMO=1 or pass --yes-demo")
    added, present = [], []
    with db.write() as session:
        bureaus.ensure_bureaus(session)
        for group, name in DEMO_UNITS:
            bureaus.ensure_unit(session, group, name)
        for account in demo_accounts():
            if users.find_user(session, account["name"]) is not None:
                present.append(account["name"])
                continue
            users.add_user(session, account["name"], DEMO_PASSWORD, bureaus=account["bureaus"],
                           roles=account["roles"], profile=users.Profile(first_name=account["first_name"]),
                           demo=True, actor="demo-seed")
            added.append(account["name"])
    print(f"demo users: {len(added)} added, {len(present)} already there (password {DEMO_PASSWORD})")
    if added:
        print("added: " + " ".join(added))
    if getattr(args, "projects", False):
        from engine.demo import seed_demo_projects
        started = seed_demo_projects(db)
        print(f"demo projects: {len(started)} started" + (": " + " ".join(started) if started else ""))
    return 0


def cmd_serve(args, settings: Settings, db: Database) -> int:
    """Serve with granian (web/server.py): in development one process of DALAD_THREADS threads (8);
    with --production DALAD_WORKERS processes (2) on DALAD_BIND (0.0.0.0:5000), access log on
    stdout, X-Forwarded-For believed from DALAD_FORWARDED_ALLOW_IPS (127.0.0.1), a worker that hangs
    for DALAD_WORKER_TIMEOUT seconds (60) replaced. Each serving process runs the timer scheduler
    unless DALAD_SCHEDULER=0."""
    from web.server import MIN_WORKER_TIMEOUT_SECONDS, WORKER_TIMEOUT_SECONDS, PortTaken, serve

    if args.demo:
        settings = replace(settings, demo=True)
    host, port = _bind(args)
    workers = _count_setting("DALAD_WORKERS", 2) if args.production else 1
    forwarded = (os.environ.get("DALAD_FORWARDED_ALLOW_IPS") or "127.0.0.1") if args.production else None
    scheduler = (os.environ.get("DALAD_SCHEDULER") or "1").strip().lower() not in ("0", "false", "no", "off")
    timeout = _count_setting("DALAD_WORKER_TIMEOUT", WORKER_TIMEOUT_SECONDS) if args.production else \
        WORKER_TIMEOUT_SECONDS
    if timeout < MIN_WORKER_TIMEOUT_SECONDS:
        raise UsageError(f"DALAD_WORKER_TIMEOUT must be at least {MIN_WORKER_TIMEOUT_SECONDS} seconds, not '{timeout}'")
    try:
        serve(settings, host=host, port=port, threads=_count_setting("DALAD_THREADS", 8), workers=workers, db=db,
              scheduler=scheduler, production=args.production, forwarded_allow_ips=forwarded, worker_timeout=timeout)
    except PortTaken as exc:
        raise UsageError(f"serve: {exc}") from None
    return 0


def _bind(args) -> tuple[str, int]:
    """--host and --port; in production what they leave out comes from DALAD_BIND (HOST:PORT)."""
    host, port = "127.0.0.1", 5000
    if args.production:
        bind = os.environ.get("DALAD_BIND") or "0.0.0.0:5000"
        named_host, sep, named_port = bind.rpartition(":")
        if not sep or not named_host or not named_port.isdigit():
            raise UsageError(f"DALAD_BIND must be HOST:PORT (0.0.0.0:5000, [::]:5000), not '{bind}'")
        host, port = named_host.strip("[]"), int(named_port)
    return args.host or host, args.port or port


def _count_setting(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    if not raw.strip().isdigit() or int(raw) < 1:
        raise UsageError(f"{name} must be a whole number from 1, not '{raw}'")
    return int(raw)


if __name__ == "__main__":
    sys.exit(main())
