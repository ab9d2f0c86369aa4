"""Experiments: what a training script logs, buffered so that logging never
slows training.

log_metric() appends to in-memory columns under a lock (about a
microsecond, no I/O); a background thread sends them in batches of up to
10,000 points every `flush_interval` seconds or as soon as a batch is full,
retrying while the server is unreachable. Nothing is lost when the process
ends: an atexit hook sends what is left, also after an uncaught exception,
and `with client.run(...)` sends everything before it records the final
status. Only SIGKILL (or os._exit) can lose points.
"""

import array
import atexit
import base64
import io
import json
import logging
import math
import os
import signal
import sys
import threading
import time
import traceback
import urllib.parse
import weakref

from .client import CvopsError

__all__ = ["Experiment", "flatten_params"]

log = logging.getLogger("cvops")

_time = time.time
_live = weakref.WeakSet()
_state = {"uncaught": False, "hooked": False}

BATCH_MAX = 10000
LINE_MAX = 8192


def flatten_params(params, prefix=""):
    """{"opt": {"lr": 0.1}} -> {"opt.lr": 0.1}; values that are not JSON
    (objects, NaN) become text."""
    out = {}
    for k, v in params.items():
        key = "%s%s" % (prefix, k)
        if isinstance(v, dict):
            out.update(flatten_params(v, key + "."))
        elif isinstance(v, float) and not math.isfinite(v):
            out[key] = str(v)
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[key] = v
        elif isinstance(v, (list, tuple)):
            try:
                json.dumps(v, allow_nan=False)
                out[key] = list(v)
            except (TypeError, ValueError):
                out[key] = str(v)
        else:
            out[key] = str(v)
    return out


_SWAP = sys.byteorder != "little"


def _packed(name, pts):
    """A series of the batch endpoint with packed columns: base64 of
    little-endian int64 steps, float64 values and int64 ms times. No number
    is formatted as text, which is what keeps the sender cheap."""
    steps, values, times = zip(*pts)
    cols = [array.array("q", steps), array.array("d", values),
            array.array("q", [int(t * 1000.0) for t in times])]
    if _SWAP:
        for c in cols:
            c.byteswap()
    b64 = [base64.b64encode(c.tobytes()).decode("ascii") for c in cols]
    return {"name": name, "steps": b64[0], "values": b64[1], "times": b64[2]}


def _at_exit():
    for exp in list(_live):
        try:
            exp._finish_at_exit()
        except Exception as e:  # never raise at exit
            sys.stderr.write("cvops: experiment %s: %s\n" % (getattr(exp, "id", "?"), e))


atexit.register(_at_exit)


def _hook_process():
    """Records an uncaught exception (for the final status at exit) and turns
    SIGTERM into SystemExit so buffered points are sent."""
    if _state["hooked"]:
        return
    _state["hooked"] = True
    previous = sys.excepthook

    def hook(et, ev, tb):
        _state["uncaught"] = True
        previous(et, ev, tb)

    sys.excepthook = hook
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            pass


class _Terminated(SystemExit):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated(128 + signum)


class _Tee(io.TextIOBase):
    """Writes to the original stream and collects whole lines for the run's
    output."""

    def __init__(self, exp, stream):
        self.exp = exp
        self.stream = stream
        self.partial = ""

    def write(self, s):
        n = self.stream.write(s)
        text = self.partial + s
        if "\n" in text:
            *lines, self.partial = text.split("\n")
            self.exp.log_text(*lines)
        else:
            self.partial = text
        return n

    def flush(self):
        self.stream.flush()

    def end(self):
        if self.partial:
            self.exp.log_text(self.partial)
            self.partial = ""

    def __getattr__(self, name):
        return getattr(self.stream, name)


class Experiment:
    """An experiment of a cvops server. Made by Client.create_experiment(),
    Client.run() or Client.experiment()."""

    def __init__(self, client, data, batch_size=BATCH_MAX, flush_interval=1.0,
                 max_pending=5_000_000, retry_for=300.0):
        self.client = client
        self.data = data
        self.id = data["id"]
        self.name = data["name"]
        self._batch = max(1, min(int(batch_size), BATCH_MAX))
        self._interval = float(flush_interval)
        self._max_pending = max(int(max_pending), self._batch)
        self._retry_for = float(retry_for)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending = {}      # name -> [(step, value, time s)]
        self._next = {}         # name -> next automatic step
        self._lines = []
        self._inflight = 0
        self._thread = None
        self._wake = threading.Event()
        self._closing = False
        self._errors = []
        self._run = False
        self._capture = False
        self._tees = None
        self._finished = False
        self._points_path = "/api/v1/experiments/%d/points" % self.id
        _live.add(self)

    def __repr__(self):
        return "Experiment(%d, %r)" % (self.id, self.name)

    # --- metrics: the hot path ----------------------------------------------

    def log_metric(self, name, value, step=None):
        """Logs one point of a metric. step: a whole number >= 0; None
        continues after this metric's last step (give steps explicitly when
        several threads log the same metric). Costs about a microsecond: the
        point is sent later, in a batch, by a background thread."""
        value = float(value)
        if value - value:  # NaN or infinite: not representable, refuse now
            raise ValueError("metric %r: %r is not a finite number; leave it out" % (name, value))
        s = self._pending.get(name)
        if s is None:
            s = self._new_series(name)
        if step is None:
            step = self._next.get(name, 0)
        elif step.__class__ is not int:
            step = int(step)  # numpy and torch integers
        if step < 0:
            raise ValueError("metric %r: step %d is negative" % (name, step))
        self._next[name] = step + 1
        # list.append is atomic: the sender takes a prefix of the list, so no
        # lock is needed on this path, even with several logging threads
        s.append((step, value, _time()))
        if not len(s) % self._batch:
            self._full(s)
        if self._thread is None:
            self._start()

    def log_metrics(self, metrics, step=None):
        """Logs several metrics at one step: {"loss": 0.3, "acc": 0.9}."""
        for k, v in metrics.items():
            self.log_metric(k, v, step)

    def _new_series(self, name):
        if not isinstance(name, str) or not name or len(name.encode("utf-8")) > 200 \
                or name != name.strip() or any(ord(c) < 32 for c in name):
            raise ValueError("metric name %r must be 1 to 200 bytes of text without control "
                             "characters or surrounding spaces" % (name,))
        with self._lock:
            return self._pending.setdefault(name, [])

    def _full(self, s):
        """A batch is ready: wake the sender; if the server has fallen far
        behind, wait for room (back-pressure instead of unbounded memory)."""
        self._wake.set()
        while len(s) >= self._max_pending and self._thread is not None \
                and self._thread.is_alive():
            self._wake.set()
            time.sleep(0.01)

    def _npending(self):
        return sum(len(s) for s in list(self._pending.values()))

    # --- the sender --------------------------------------------------------------

    def _start(self):
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="cvops-exp-%d" % self.id,
                                            daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._send_pending()
            with self._lock:
                if self._closing and not self._npending() and not self._lines:
                    return

    def _send_pending(self):
        """Takes what is pending (a prefix of each metric's list: appends
        that happen meanwhile stay for the next round) and sends it."""
        with self._lock:
            taken, n = {}, 0
            for name, s in list(self._pending.items()):
                k = len(s)
                if k:
                    taken[name] = s[:k]
                    del s[:k]
                    n += k
            lines, self._lines = self._lines, []
            self._inflight += n + len(lines)
        try:
            if taken:
                self._send_points(taken)
            if lines:
                for i in range(0, len(lines), BATCH_MAX):
                    self._post("/api/v1/experiments/%d/output" % self.id,
                               {"lines": lines[i:i + BATCH_MAX]}, len(lines[i:i + BATCH_MAX]))
        finally:
            with self._lock:
                self._inflight -= n + len(lines)
                self._cond.notify_all()

    def _send_points(self, taken):
        batch, size = [], 0
        for name, pts in taken.items():
            i = 0
            while i < len(pts):
                k = min(len(pts) - i, self._batch - size)
                batch.append(_packed(name, pts[i:i + k]))
                size += k
                i += k
                if size == self._batch:
                    self._post(self._points_path, {"series": batch}, size)
                    batch, size = [], 0
        if batch:
            self._post(self._points_path, {"series": batch}, size)

    def _post(self, path, body, count):
        """Sends one batch, retrying while the server is unreachable or busy
        (up to retry_for seconds). A refused batch (4xx) is reported, not
        retried: sending it again would not help."""
        delay, deadline = 0.25, time.monotonic() + self._retry_for
        while True:
            try:
                self.client.request("POST", path, body)
                return
            except CvopsError as e:
                if e.status and e.status < 500 and e.status not in (408, 429):
                    self._fail(e, count)
                    return
                if time.monotonic() > deadline:
                    self._fail(e, count)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _fail(self, e, count):
        with self._lock:
            self._errors.append(e)
        log.error("cvops: experiment %d: %d item(s) could not be logged: %s", self.id, count, e)

    def flush(self, timeout=None):
        """Sends everything logged so far and waits until the server has it.
        Raises CvopsError if something was refused since the last flush."""
        if self._thread is None or not self._thread.is_alive():
            self._send_pending()
        else:
            end = None if timeout is None else time.monotonic() + timeout
            with self._lock:
                while self._npending() or self._lines or self._inflight:
                    self._wake.set()
                    left = None if end is None else end - time.monotonic()
                    if left is not None and left <= 0:
                        raise CvopsError(0, "timeout", "flush did not finish in %s s" % timeout)
                    self._cond.wait(0.05 if left is None else min(left, 0.05))
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    def close(self, timeout=None):
        """Flushes and stops the background sender."""
        with self._lock:
            self._closing = True
        self._wake.set()
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout)
        self._send_pending()  # anything the thread did not take (or no thread)
        with self._lock:
            self._closing = False
            self._thread = None
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    # --- status and the `with` form ---------------------------------------------

    def set_status(self, status):
        """created, queued, running, succeeded, failed or canceled."""
        self.data = self.client.request("PATCH", "/api/v1/experiments/%d" % self.id,
                                        {"status": status})
        return self

    def _begin_run(self, capture):
        """This process runs the experiment (Client.run): its final status is
        set on leaving `with`, or at exit."""
        self._run = True
        self._capture = capture
        _hook_process()

    def __enter__(self):
        _hook_process()
        if self._capture and self._tees is None:
            self._tees = (_Tee(self, sys.stdout), _Tee(self, sys.stderr))
            sys.stdout, sys.stderr = self._tees
        if self.data.get("status") in ("created", "queued"):
            self.set_status("running")
        self._run = True
        return self

    def __exit__(self, et, ev, tb):
        self._end_capture()
        if et is None:
            status = "succeeded"
        elif issubclass(et, (KeyboardInterrupt, _Terminated)):
            status = "canceled"
        else:
            status = "failed"
            self.log_text(*"".join(traceback.format_exception(et, ev, tb)).rstrip("\n").split("\n"))
        try:
            self.close()
        finally:
            self._finished = True
            self.set_status(status)
        return False

    def _end_capture(self):
        if self._tees:
            out, err = self._tees
            if sys.stdout is out:
                sys.stdout = out.stream
            if sys.stderr is err:
                sys.stderr = err.stream
            out.end()
            err.end()
            self._tees = None

    def _finish_at_exit(self):
        """At interpreter exit: send what is left; a run still open gets its
        final status (failed after an uncaught exception)."""
        self._end_capture()
        try:
            self.close(timeout=self._retry_for)
        finally:
            if self._run and not self._finished:
                self._finished = True
                self.set_status("failed" if _state["uncaught"] else "succeeded")

    # --- parameters, datasets ------------------------------------------------------

    def create_evaluation(self, dataset_version_id, name=None, task=None, metric_prefix=None):
        """A new evaluation of this experiment on a dataset version (task:
        detection, segmentation, keypoints, classification; default the
        version's)."""
        from .evaluation import Evaluation
        body = {"dataset_version_id": dataset_version_id}
        for k, v in (("name", name), ("task", task), ("metric_prefix", metric_prefix)):
            if v is not None:
                body[k] = v
        return Evaluation(self.client, self.client.request(
            "POST", "/api/v1/experiments/%d/evaluations" % self.id, body))

    def log_predictions(self, dataset_version_id, predictions, name=None, task=None):
        """Creates an evaluation and uploads predictions ({asset_id: [shapes]}
        or [{"asset_id", "shapes"}]); returns it, not yet run."""
        ev = self.create_evaluation(dataset_version_id, name=name, task=task)
        ev.log_predictions(predictions)
        return ev

    def evaluate(self, dataset_version_id, predictions, name=None, task=None, **run_options):
        """log_predictions() then run(): returns the evaluation with its
        summary; its numbers are also logged as metrics (eval/mAP, ...)."""
        ev = self.log_predictions(dataset_version_id, predictions, name=name, task=task)
        ev.run(**run_options)
        return ev

    def log_params(self, params):
        """Sets parameters (nested dicts are flattened to "a.b")."""
        self.data = self.client.request("POST", "/api/v1/experiments/%d/params" % self.id,
                                        {"params": flatten_params(params)})
        return self

    def log_param(self, key, value):
        return self.log_params({key: value})

    def set_tags(self, tags):
        self.data = self.client.request("PATCH", "/api/v1/experiments/%d" % self.id,
                                        {"tags": list(tags)})
        return self

    def attach_dataset(self, alias, version_id):
        """Links a dataset version under an alias (train, val, test...)."""
        self.data = self.client.request(
            "PUT", "/api/v1/experiments/%d/datasets/%s" % (self.id, urllib.parse.quote(alias)),
            {"dataset_version_id": int(version_id)})
        return self

    # --- other logs (sent at once) ------------------------------------------------

    def _log(self, name, kind, data, step=None):
        body = {"name": name, "kind": kind, "data": data}
        if step is not None:
            body["step"] = int(step)
        self.client.request("POST", "/api/v1/experiments/%d/logs" % self.id, body)

    def log_value(self, name, value):
        """One number or text, e.g. the best accuracy or the backbone's name."""
        self._log(name, "value", {"value": value if isinstance(value, str) else float(value)})

    def log_bar(self, name, labels, values, step=None):
        self._log(name, "bar", {"labels": [str(x) for x in labels],
                                "values": [float(v) for v in values]}, step)

    def log_table(self, name, columns, rows, step=None):
        """A table: column names and rows of scalars."""
        self._log(name, "table", {"columns": [str(c) for c in columns],
                                  "rows": [list(r) for r in rows]}, step)

    def log_heatmap(self, name, rows, columns, matrix, step=None):
        self._log(name, "heatmap", {"rows": [str(x) for x in rows],
                                    "columns": [str(x) for x in columns],
                                    "matrix": [[float(v) for v in r] for r in matrix]}, step)

    def log_confusion_matrix(self, name, labels, matrix, step=None):
        """matrix[actual][predicted] counts (or rates), one row per label."""
        self._log(name, "confusion_matrix",
                  {"labels": [str(x) for x in labels],
                   "matrix": [[float(v) for v in r] for r in matrix]}, step)

    def log_label_map(self, name, labels):
        """Class ids to names: a list, or a dict {id: name}."""
        if isinstance(labels, dict):
            labels = {str(k): str(v) for k, v in labels.items()}
        else:
            labels = [str(x) for x in labels]
        self._log(name, "label_map", {"labels": labels})

    def log_image(self, name, image, step=None, caption=None):
        """An image (a path, bytes or a binary file) stored and logged,
        optionally per step. PNG, JPEG, GIF, WebP or BMP."""
        if isinstance(image, (bytes, bytearray)):
            raw = bytes(image)
        elif hasattr(image, "read"):
            raw = image.read()
        else:
            with open(image, "rb") as f:
                raw = f.read()
        up = self.client.request("PUT", "/api/v1/files", raw=raw,
                                 headers={"Content-Type": "application/octet-stream"})
        data = {"sha256": up["sha256"]}
        if caption is not None:
            data["caption"] = str(caption)
        self._log(name, "image", data, step)
        return up["sha256"]

    # --- text output ------------------------------------------------------------------

    def log_text(self, *lines):
        """Appends lines to the run's text output (buffered like metrics)."""
        with self._lock:
            for line in lines:
                line = str(line)
                while len(line.encode("utf-8")) > LINE_MAX:
                    cut = LINE_MAX // 4
                    self._lines.append(line[:cut])
                    line = line[cut:]
                self._lines.append(line)
            if len(self._lines) >= BATCH_MAX:
                self._wake.set()
        if self._thread is None:
            self._start()

    def output(self, after=0, limit=1000):
        """Lines of the run's output after line number `after`."""
        return self.client.request("GET", "/api/v1/experiments/%d/output?after=%d&limit=%d"
                                   % (self.id, after, limit))

    # --- artifacts ----------------------------------------------------------------------

    def upload_artifact(self, local_path, path=None):
        """Uploads a file, or every file under a directory, streamed. Returns
        the list of stored artifacts (path, sha256, size)."""
        local_path = os.fspath(local_path)
        if os.path.isdir(local_path):
            base = path if path is not None else os.path.basename(os.path.normpath(local_path))
            done = []
            for root, dirs, files in os.walk(local_path):
                dirs.sort()
                for f in sorted(files):
                    full = os.path.join(root, f)
                    rel = os.path.relpath(full, local_path).replace(os.sep, "/")
                    done += self.upload_artifact(full, (base + "/" + rel) if base else rel)
            return done
        if path is None:
            path = os.path.basename(local_path)
        size = os.path.getsize(local_path)
        with open(local_path, "rb") as f:
            res = self.client.request(
                "PUT", "/api/v1/experiments/%d/artifacts?path=%s" % (self.id, urllib.parse.quote(path)),
                raw=f, headers={"Content-Type": "application/octet-stream",
                                "Content-Length": str(size)})
        return [res]

    def artifacts(self, prefix=None):
        q = "?limit=10000" + ("&prefix=" + urllib.parse.quote(prefix) if prefix else "")
        return self.client.request("GET", "/api/v1/experiments/%d/artifacts%s" % (self.id, q))["items"]

    def download_artifact(self, path, dest=None):
        """Writes the artifact to dest (a path or a binary file; default: its
        name in the current directory). Returns dest."""
        if dest is None:
            dest = path.rsplit("/", 1)[-1]
        url = "/api/v1/experiments/%d/artifacts/file?path=%s" % (self.id, urllib.parse.quote(path))
        if hasattr(dest, "write"):
            self.client.request("GET", url, stream_to=dest)
            return dest
        tmp = "%s.part" % dest
        try:
            with open(tmp, "wb") as f:
                self.client.request("GET", url, stream_to=f)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return dest

    # --- reading back ---------------------------------------------------------------------

    def refresh(self):
        self.data = self.client.request("GET", "/api/v1/experiments/%d" % self.id)
        return self.data

    @property
    def status(self):
        return self.data.get("status")

    def metrics(self):
        """The experiment's metrics with count, extremes and latest point."""
        return self.client.request("GET", "/api/v1/experiments/%d/metrics" % self.id)["items"]

    def metric(self, name, points=None, method=None, start=None, end=None, limit=None):
        """A metric's points {steps, values, times}; points=N for a
        downsampled view (method "minmax" or "lttb")."""
        args = {"name": name}
        for k, v in (("points", points), ("method", method), ("from", start), ("to", end),
                     ("limit", limit)):
            if v is not None:
                args[k] = v
        return self.client.request("GET", "/api/v1/experiments/%d/points?%s"
                                   % (self.id, urllib.parse.urlencode(args)))

    def logs(self, name=None, kind=None, data=True):
        args = {"data": 1 if data else 0, "limit": 500}
        if name:
            args["name"] = name
        if kind:
            args["kind"] = kind
        return self.client.request("GET", "/api/v1/experiments/%d/logs?%s"
                                   % (self.id, urllib.parse.urlencode(args)))["items"]
