"""The HTTP server of `dalad serve`: granian (HTTP/1.1 in Rust, from PyPI) calling the Flask app
from a pool of Python threads.

`dalad serve` (development, the benchmark, the tests): one process; granian's worker is a thread of
it, so a kill of the process leaves nothing serving. `dalad serve --production`, with one worker as
with several: a supervisor and `workers` processes
on one listening socket it made; each builds the app, runs the timer scheduler (unless turned off)
and dies with the supervisor (PR_SET_PDEATHSIG, even on SIGKILL); a worker that dies is replaced,
and each is replaced gracefully after `WORKER_LIFETIME_SECONDS`. A worker that hangs is killed and
replaced too (`Heartbeat`): frozen (stopped, or the GIL held in C code), or with every request thread
inside one request for longer than the worker timeout. Both stop on SIGTERM or SIGINT after
answering the requests in flight.

granian copies the process environment into every request's WSGI environ: the secrets among it
are read into the settings first, then removed from the environment (`forget_secrets`).

`InProcess` and `Workers` change a method or two of granian's server classes, which are not its
public interface: setup.cfg holds granian to one minor version, and tests/web/
test_production_server.py checks each of these promises through a real `dalad serve`.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Optional

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.net import SocketSpec
from granian.server.common import AbstractServer
from granian.server.mp import MPServer
from granian.server.mt import MTServer
from granian.utils.proxies import wrap_wsgi_with_proxy_headers

from engine.config import Settings, open_engine
from engine.database import Database
from engine.scheduler import start_scheduler

from . import create_app, prepare_server_process

# Read into Settings at start; no request's environ may carry them.
SECRET_VARIABLES = ("DALAD_HISTORY_KEY", "DALAD_SECRET_KEY", "DALAD_DATABASE_URL")
# hyper's read buffer while it waits for the end of the headers: a request line and headers past
# about 32-48 KiB get 431 (414 for a line alone past 64 KiB), and so do more than 100 headers.
# gunicorn's limits were a line of 8190 bytes and 100 headers of 8190.
HEADER_BUFFER_BYTES = 32 * 1024
WORKER_LIFETIME_SECONDS = 6 * 3600  # production: each worker replaced now and then (memory)
STOP_SECONDS = 30  # production: what a worker gets to finish its requests when replaced or stopped
WORKER_TIMEOUT_SECONDS = 60  # production: a worker silent this long is killed and replaced (DALAD_WORKER_TIMEOUT)
# granian's supervisor exits when a worker it replaced dies again within 5.5 s ("crash loop"): a
# worker is never killed younger than its timeout, so no timeout may be shorter than that.
MIN_WORKER_TIMEOUT_SECONDS = 10
_PR_SET_PDEATHSIG = 1
_log = logging.getLogger("_granian")  # the supervisor's own log (granian's lines: worker spawned, exited)


class PortTaken(Exception):
    """Another server listens on the address."""


def serve(settings: Settings, *, host: str, port: int, threads: int, workers: int = 1,
          db: Optional[Database] = None, scheduler: bool = True, production: bool = False,
          forwarded_allow_ips: Optional[str] = None, worker_timeout: int = WORKER_TIMEOUT_SECONDS) -> None:
    """Serve until SIGTERM or SIGINT. Not `production`: in this process, on `db` (made from
    `settings` when None), one worker; `production`: a supervisor of `workers` worker processes
    (one too: a hung worker is replaced, as it would not be in this process), each on its own engine. `forwarded_allow_ips`
    (comma-separated addresses or networks): peers whose X-Forwarded-For and X-Forwarded-Proto
    are believed; None believes none. The access log goes to stdout in production. A worker whose
    heartbeat stops for `worker_timeout` seconds is killed and replaced."""
    refuse_taken_port(host, port)
    forget_secrets()
    options = dict(address=host, port=port, interface=Interfaces.WSGI, http=HTTPModes.http1, websockets=False,
                   blocking_threads=threads, runtime_threads=1, log_access=production,
                   http1_settings=HTTP1Settings(max_buffer_size=HEADER_BUFFER_BYTES))
    if not production:
        loaded = serving_app(settings, scheduler, forwarded_allow_ips, db=db)
        try:
            InProcess(target="dalad", **options).serve(target_loader=lambda: loaded.app, wrap_loader=False)
        finally:
            loaded.stop()
        return
    if db is not None:
        db.dispose()  # each worker opens its own engine: no pooled connection crosses a fork
    heartbeats = Heartbeat.folder_for(os.getpid())
    try:
        heartbeat = Heartbeat(heartbeats, worker_timeout, threads)
        loader = partial(_worker_app, settings, scheduler, forwarded_allow_ips, os.getpid(), heartbeat)
        server = Workers(target="dalad", workers=workers, respawn_failed_workers=True,
                         workers_lifetime=WORKER_LIFETIME_SECONDS, workers_kill_timeout=STOP_SECONDS, **options)
        threading.Thread(target=heartbeat.watch, args=(server,), name="dalad-worker-watchdog", daemon=True).start()
        server.serve(target_loader=loader, wrap_loader=False)
    finally:
        shutil.rmtree(heartbeats, ignore_errors=True)


class ServingApp:
    """The app one serving process calls, and the scheduler it runs beside it."""

    def __init__(self, app, scheduler):
        self.app, self.scheduler = app, scheduler

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)


def serving_app(settings: Settings, scheduler: bool, forwarded_allow_ips: Optional[str],
                db: Optional[Database] = None) -> ServingApp:
    """Build what one serving process runs, on `db` or an engine of its own."""
    db = db or open_engine(settings)
    app = create_app(settings, db=db)
    prepare_server_process()
    wsgi = wrap_wsgi_with_proxy_headers(app, forwarded_allow_ips) if forwarded_allow_ips else app
    return ServingApp(wsgi, start_scheduler(db) if scheduler else None)


def _worker_app(settings: Settings, scheduler: bool, forwarded_allow_ips: Optional[str], supervisor: int,
                heartbeat: "Heartbeat"):
    """Run in each worker process before it serves: die with the supervisor, build the app, and
    start beating."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != supervisor:  # it died before the call above
        os._exit(1)
    return heartbeat.beat(serving_app(settings, scheduler, forwarded_allow_ips).app)


class Heartbeat:
    """How the supervisor knows a worker process still serves (as gunicorn's workers tell theirs):
    each worker touches a file named by its pid, in a folder the supervisor made, every few
    seconds from a thread of its own. The beat stops when the process is frozen (stopped, or the
    GIL held in C code) or when every one of its `threads` request threads has been inside one
    request for longer than `timeout` (it can answer nothing). The supervisor's `watch` kills a
    worker silent for `timeout` seconds; granian then starts another in its place."""

    PREFIX = "dalad-heartbeats-"

    @classmethod
    def folder_for(cls, supervisor: int) -> Path:
        """A new folder for the marks of `supervisor`'s workers; those of supervisors gone (killed
        with SIGKILL, they could not remove theirs) are removed."""
        for old in Path(tempfile.gettempdir()).glob(f"{cls.PREFIX}*-*"):
            pid = old.name.removeprefix(cls.PREFIX).split("-", 1)[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{cls.PREFIX}{supervisor}-"))

    def __init__(self, folder: Path, timeout: int, threads: int):
        self.folder, self.timeout, self.threads = folder, timeout, threads
        self.interval = min(5.0, timeout / 4)

    def beat(self, app):
        """In a worker: `app`, counting its requests in flight, and the thread that beats."""
        in_flight: dict[int, float] = {}  # request thread -> when its request began

        def counted(environ, start_response):
            thread = threading.get_ident()
            in_flight[thread] = time.monotonic()
            try:
                return app(environ, start_response)
            finally:
                del in_flight[thread]

        def beating():
            mark = self.folder / str(os.getpid())
            while True:
                now = time.monotonic()
                if sum(now - began > self.timeout for began in list(in_flight.values())) < self.threads:
                    mark.touch()  # (made again if the supervisor took it for a gone worker's)
                time.sleep(self.interval)

        threading.Thread(target=beating, name="dalad-heartbeat", daemon=True).start()
        return counted

    def watch(self, server: "Workers") -> None:
        """In the supervisor: kill each worker that has not beaten for `timeout` seconds (one that
        never beat counts from its start), and forget the marks of workers gone."""
        while True:
            time.sleep(self.interval)
            workers = {wrk.inner.pid: wrk for wrk in list(server.wrks) if wrk.inner.pid is not None}
            for pid, wrk in workers.items():
                started = time.monotonic() - wrk.birth
                if started < self.timeout or not wrk.inner.is_alive():
                    continue
                try:
                    silent = time.time() - (self.folder / str(pid)).stat().st_mtime
                except FileNotFoundError:
                    silent = started
                if silent > self.timeout:
                    _log.error("worker-%d (pid %d) has not answered its supervisor for %.0f s (DALAD_WORKER_TIMEOUT "
                               "%d): killed, and replaced", wrk.idx + 1, pid, silent, self.timeout)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)  # granian sees it die and starts another
            for mark in self.folder.iterdir():
                if not mark.name.isdigit() or int(mark.name) not in workers:
                    mark.unlink(missing_ok=True)


def forget_secrets() -> None:
    """Remove the secrets from the process environment once the settings hold them."""
    for name in SECRET_VARIABLES:
        os.environ.pop(name, None)


def refuse_taken_port(host: str, port: int) -> None:
    """granian listens with SO_REUSEPORT, which would let a second server (or a stray worker)
    share the port unseen and split the connections: refuse as other servers do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is no server
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortTaken(f"{host}:{port} is in use by another server") from exc
            raise


class InProcess(MTServer):
    """granian's in-process server: its worker is a thread of this process (granian offers it
    only to interpreters without the GIL; with one, the GIL is released while Rust works and the
    Flask threads take it in turn, as in any worker process)."""

    def _check_gil(self):
        pass

    def serve(self, spawn_target=None, target_loader=None, wrap_loader=True):
        # MTServer's own serve only adds a warning about free-threaded builds, which this is not
        AbstractServer.serve(self, spawn_target, target_loader, wrap_loader)


class Workers(MPServer):
    """granian's worker processes, on one listening socket made by the supervisor and inherited
    (as gunicorn's) instead of one per worker: connections queued on a worker's own socket would
    be reset when it is replaced. (So granian's warning at start that they may be, unless a sysctl
    is set, is not written.)"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        logging.getLogger("_granian").addFilter(lambda record: "tcp_migrate_req" not in record.getMessage())

    def _init_shared_socket(self):
        self._shd = SocketSpec(self.bind_addr, self.bind_port, self.backlog).build()
        self._sfd = self._shd.get_fd()
        self._sso = socket.socket(fileno=self._sfd)
        self._sso.set_inheritable(True)
