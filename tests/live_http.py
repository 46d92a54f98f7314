"""Real HTTP for concurrency tests: the app served in this process by werkzeug's threaded server on
127.0.0.1 (a thread per request, as `dalad serve` calls it from a pool of threads), or a real
`dalad serve` process (`dalad_serve`); and a small client over urllib that keeps cookies and
speaks the REST API (Bearer) and the officials' UI (login, CSRF token, forms)."""
from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from werkzeug.datastructures import Headers
from werkzeug.serving import make_server


@contextlib.contextmanager
def served(app):
    """Serve `app` on a free port of 127.0.0.1 in a background thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextlib.contextmanager
def dalad_serve(base: str, env: dict, *args: str, log: Path, command: Optional[list] = None):
    """Run `dalad serve ARGS` (or `command`) with `env`, its output in `log`, in a session of its
    own; yield the process once `base`/healthz answers; then SIGTERM to it and wait for its end."""
    command = command or [str(Path(sys.executable).with_name("dalad")), "serve", *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(600):  # the app is built: a few seconds on a loaded machine
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if Client(base, timeout=2).get("/healthz").status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError):  # whatever of its session is left (a failed test)
            os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: Headers  # names in any case: `dalad serve` (hyper) sends them in lower case

    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer of its own (302 after a form)


class Client:
    """One user agent: its own cookies; `bearer` for the REST API."""

    def __init__(self, base: str, bearer: Optional[str] = None, timeout: float = 60):
        self.base, self.bearer, self.timeout = base.rstrip("/"), bearer, timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect)

    def request(self, method: str, path: str, *, json_body=None, form: Optional[dict] = None,
                raw: Optional[bytes] = None, headers: Optional[dict] = None) -> Reply:
        sent = {"Accept": "application/json", **(headers or {})}
        if self.bearer:
            sent["Authorization"] = f"Bearer {self.bearer}"
        data = raw
        if json_body is not None:
            data, sent["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with self.opener.open(req, timeout=self.timeout) as response:
                return Reply(response.status, response.read(), Headers(list(response.headers.items())))
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read(), Headers(list(error.headers.items())))

    def get(self, path: str, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Reply:
        return self.request("POST", path, **kwargs)

    # --- the officials' UI -----------------------------------------------------------------

    def csrf(self, path: str = "/login") -> str:
        page = self.get(path, headers={"Accept": "text/html"}).text
        found = re.search(r'name="_csrf"\s+value="([^"]+)"', page)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def login(self, name: str, password: str) -> None:
        reply = self.post("/login", form={"name": name, "password": password, "_csrf": self.csrf()})
        assert reply.status == 302, (reply.status, reply.text[:300])

    def submit(self, path: str, fields: Optional[dict] = None, *, page: str) -> Reply:
        """POST a form of the UI with the CSRF token read from `page`."""
        return self.post(path, form={**(fields or {}), "_csrf": self.csrf(page)})
