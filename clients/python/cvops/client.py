"""The cvops REST client: connection handling, errors, projects, experiments,
comparisons. Standard library only.

    from cvops import Client
    client = Client("http://127.0.0.1:8080", token)
    with client.run("detector", params={"lr": 0.01}) as exp:
        for step in range(1000):
            exp.log_metric("loss", loss, step)
"""

import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

__all__ = ["Client", "Project", "CvopsError"]


class CvopsError(Exception):
    """An error answered by the server (status, code, message) or a
    connection failure (status 0)."""

    def __init__(self, status, code, message):
        super().__init__("%s (HTTP %s %s)" % (message, status, code) if status else message)
        self.status = status
        self.code = code
        self.message = message


class _Conn:
    """One keep-alive HTTP connection (not shared between threads)."""

    def __init__(self, url, token, timeout):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("server URL %r must look like http://host:port" % url)
        self.https = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.https else 80)
        self.base = u.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"User-Agent": "cvops-python/0.1"}
        if token:
            self.headers["Authorization"] = "Bearer " + token
        self.conn = None

    def _connect(self):
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        self.conn = cls(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None, headers=None, stream_to=None):
        """Returns (status, headers, body bytes). Retries once on a stale
        keep-alive connection. Raises OSError / http.client errors if the
        server cannot be reached."""
        h = dict(self.headers)
        if headers:
            h.update(headers)
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                if hasattr(body, "seek") and attempt:
                    body.seek(0)
                self.conn.request(method, self.base + path, body=body, headers=h)
                resp = self.conn.getresponse()
                if stream_to is not None and 200 <= resp.status < 300:
                    while True:
                        chunk = resp.read(1 << 20)
                        if not chunk:
                            break
                        stream_to.write(chunk)
                    data = b""
                else:
                    data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, resp, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self.close()
                if attempt:
                    raise

    def __del__(self):
        self.close()

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


def _error_of(status, data):
    try:
        e = json.loads(data.decode("utf-8"))["error"]
        return CvopsError(status, e.get("code", ""), e.get("message", ""))
    except Exception:
        return CvopsError(status, "", "the server answered HTTP %d" % status)


from .ops import Ops  # noqa: E402


class Client(Ops):
    """A client of one cvops server. Thread-safe: each thread gets its own
    keep-alive connection.

    url: "http://host:port" ($CVOPS_SERVER, default http://127.0.0.1:8080)
    token: an API token ($CVOPS_TOKEN)
    """

    def __init__(self, url=None, token=None, timeout=60.0):
        self.url = (url or os.environ.get("CVOPS_SERVER") or "http://127.0.0.1:8080").rstrip("/")
        self.token = token or os.environ.get("CVOPS_TOKEN")
        self.timeout = timeout
        self._local = threading.local()
        _Conn(self.url, None, timeout)  # validates the URL now

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = _Conn(self.url, self.token, self.timeout)
        return c

    def request(self, method, path, body=None, raw=None, headers=None, stream_to=None):
        """Calls the API. body: a JSON-able object; raw: bytes or a file to
        send as is. Returns the decoded JSON answer (None for no content)."""
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
            h["Content-Type"] = "application/json"
        try:
            status, _, out = self._conn().request(method, path, data, h, stream_to)
        except (OSError, http.client.HTTPException) as e:
            self._conn().close()
            raise CvopsError(0, "unavailable", "cannot reach %s: %s" % (self.url, e)) from None
        if status >= 300:
            raise _error_of(status, out)
        if not out:
            return None
        return json.loads(out.decode("utf-8"))

    # --- projects -----------------------------------------------------------

    def projects(self, q=None, limit=1000):
        path = "/api/v1/projects?limit=%d" % limit
        if q:
            path += "&q=" + urllib.parse.quote(q)
        return [Project(self, p) for p in self.request("GET", path)["items"]]

    def create_project(self, name, description="", members=None):
        body = {"name": name, "description": description}
        if members:
            body["members"] = list(members)
        return Project(self, self.request("POST", "/api/v1/projects", body))

    def project(self, name_or_id, create=True):
        """A project by id or name; created when a name is new (create=True)."""
        if isinstance(name_or_id, Project):
            return name_or_id
        if isinstance(name_or_id, int):
            return Project(self, self.request("GET", "/api/v1/projects/%d" % name_or_id))
        for p in self.projects(q=name_or_id):
            if p.name == name_or_id:
                return p
        if not create:
            raise CvopsError(404, "not_found", "no project named %r" % name_or_id)
        try:
            return self.create_project(name_or_id)
        except CvopsError as e:
            if e.status != 409:
                raise
            return self.project(name_or_id, create=False)  # created meanwhile

    # --- experiments ---------------------------------------------------------

    def create_experiment(self, project, name=None, params=None, tags=None, description=None,
                          status=None, datasets=None, command=None, host=None, **options):
        """Creates an experiment in a project (id, name or Project; a new
        name creates the project). Returns an Experiment."""
        from .tracking import Experiment, flatten_params

        p = self.project(project)
        body = {}
        for k, v in (("name", name), ("description", description), ("status", status),
                     ("command", command), ("host", host)):
            if v is not None:
                body[k] = v
        if params:
            body["params"] = flatten_params(params)
        if tags:
            body["tags"] = list(tags)
        if datasets:
            body["datasets"] = dict(datasets)
        data = self.request("POST", "/api/v1/projects/%d/experiments" % p.id, body)
        return Experiment(self, data, **options)

    def experiment(self, experiment_id, **options):
        """An existing experiment, to log more to it or read it."""
        from .tracking import Experiment

        return Experiment(self, self.request("GET", "/api/v1/experiments/%d" % int(experiment_id)),
                          **options)

    def run(self, project, name=None, params=None, tags=None, description=None, datasets=None,
            capture_output=False, **options):
        """A new experiment for this process, as a context manager: status
        running now (with the command line and host), and on exit succeeded,
        failed (an exception; its traceback goes to the output) or canceled
        (KeyboardInterrupt), after every buffered point was sent.

        capture_output=True also copies what the process prints (stdout,
        stderr) into the experiment's text output."""
        exp = self.create_experiment(project, name=name, params=params, tags=tags,
                                     description=description, datasets=datasets,
                                     status="running", command=" ".join(sys.argv),
                                     host=socket.gethostname(), **options)
        exp._begin_run(capture_output)
        return exp

    def experiments(self, project, status=None, tag=None, q=None, order_by=None, params=None,
                    metrics=None, limit=100):
        """One page of the experiment table (a dict with items and next_cursor)."""
        p = self.project(project, create=False)
        args = {"limit": limit}
        for k, v in (("status", status), ("tag", tag), ("q", q), ("order_by", order_by)):
            if v:
                args[k] = v
        if params:
            args["params"] = ",".join(params)
        if metrics:
            args["metrics"] = ",".join(metrics)
        return self.request("GET", "/api/v1/projects/%d/experiments?%s"
                            % (p.id, urllib.parse.urlencode(args)))

    def compare(self, experiments, metrics=None, points=None):
        """Parameter differences and metric series aligned by step."""
        body = {"experiments": [int(getattr(e, "id", e)) for e in experiments]}
        if metrics:
            body["metrics"] = list(metrics)
        if points:
            body["points"] = int(points)
        return self.request("POST", "/api/v1/experiments/compare", body)


class Project:
    def __init__(self, client, data):
        self.client = client
        self.data = data
        self.id = data["id"]
        self.name = data["name"]

    def __repr__(self):
        return "Project(%d, %r)" % (self.id, self.name)
