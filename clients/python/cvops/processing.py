"""Helpers for code that runs as a cvops processing (or custom training).

A worker runs a custom processing's command in a fresh directory with its
job in the environment (docs/processings.md). This module reads it and
talks to the API with the job's token, which reaches the job's input and
its own run only:

    from cvops.processing import Job

    job = Job.from_env()
    assets = list(job.assets())                      # the input dataset version
    for i, a in enumerate(assets):
        job.download(a["data_id"], "in.jpg")
        ...                                          # make out.jpg
        sha = job.upload("out.jpg")
        job.progress((i + 1) / len(assets), "%d of %d" % (i + 1, len(assets)))
    job.output_version("v2-gray", from_="empty", sha256=[...], annotations=[...])

Outputs are staged and written only if the command exits with status 0;
otherwise nothing of them stays. Everything here is plain HTTP through
cvops.Client (standard library only).
"""

import json
import os
import urllib.parse

from .client import Client, CvopsError

__all__ = ["Job", "in_job"]


def in_job():
    """True when this process was started by a cvops worker as a processing."""
    return bool(os.environ.get("CVOPS_JOB_ID"))


class Job:
    """The processing run this process belongs to."""

    def __init__(self, job_id, url, token, input=None, params=None, workdir=None, timeout=60.0):
        self.id = int(job_id)
        self.input = input or {}
        self.params = params or {}
        self.workdir = workdir or os.getcwd()
        self.client = Client(url, token, timeout=timeout)
        self._base = "/api/v1/processing-runs/%d" % self.id

    @classmethod
    def from_env(cls, timeout=60.0):
        """The job described by CVOPS_JOB_ID, CVOPS_URL, CVOPS_TOKEN,
        CVOPS_INPUT, CVOPS_PARAMS and CVOPS_WORKDIR."""
        if not in_job():
            raise RuntimeError("not running as a cvops processing (CVOPS_JOB_ID is not set)")
        env = os.environ
        url = env.get("CVOPS_URL") or env.get("CVOPS_SERVER")
        if not url:
            raise RuntimeError("the worker has no API URL (start it with --api-url); report on "
                               "standard output with the line protocol instead")
        return cls(env["CVOPS_JOB_ID"], url, env.get("CVOPS_TOKEN"),
                   json.loads(env.get("CVOPS_INPUT") or "{}"),
                   json.loads(env.get("CVOPS_PARAMS") or "{}"),
                   env.get("CVOPS_WORKDIR"), timeout)

    # --- reporting -----------------------------------------------------------

    def progress(self, fraction, message=""):
        """Progress in [0, 1] and a short message, shown on the job."""
        self.client.request("POST", self._base + "/progress",
                            {"progress": max(0.0, min(1.0, float(fraction))), "message": message})

    def log(self, *lines):
        """Lines for the job's log."""
        lines = [str(l) for l in lines]
        for i in range(0, len(lines), 1000):
            self.client.request("POST", self._base + "/log", {"lines": lines[i:i + 1000]})

    # --- reading the input ---------------------------------------------------------

    def assets(self, query=None, shapes=True, page=500):
        """The input dataset version's assets (with their shapes), in id order."""
        if self.input.get("kind") != "dataset-version":
            raise CvopsError(0, "invalid_argument", "the input is a %s, not a dataset version"
                             % self.input.get("kind"))
        cursor = None
        while True:
            args = {"limit": page, "order_by": "id"}
            if shapes:
                args["shapes"] = 1
            if query or self.input.get("query"):
                args["q"] = query or self.input.get("query")
            if cursor:
                args["cursor"] = cursor
            res = self.client.request("GET", "/api/v1/dataset-versions/%d/assets?%s"
                                      % (self.input["id"], urllib.parse.urlencode(args)))
            for a in res["items"]:
                yield a
            cursor = res.get("next_cursor")
            if not cursor:
                return

    def items(self, query=None, page=1000):
        """The input datalake's items."""
        lake = self.input.get("datalake_id")
        if self.input.get("kind") != "datalake":
            raise CvopsError(0, "invalid_argument", "the input is a %s, not a datalake"
                             % self.input.get("kind"))
        cursor = None
        while True:
            args = {"limit": page}
            q = query or self.input.get("query")
            if q:
                args["q"] = q
            if cursor:
                args["cursor"] = cursor
            res = self.client.request("GET", "/api/v1/datalakes/%d/data?%s"
                                      % (lake, urllib.parse.urlencode(args)))
            for it in res["items"]:
                yield it
            cursor = res.get("next_cursor")
            if not cursor:
                return

    def labels(self):
        """The input dataset version's labels."""
        res = self.client.request("GET", "/api/v1/dataset-versions/%d/labels" % self.input["id"])
        return res["items"] if isinstance(res, dict) else res

    def download(self, data_id, dest):
        """Writes a datalake item's original file to dest (a path)."""
        with open(dest, "wb") as f:
            self.client.request("GET", "/api/v1/data/%d/original" % int(data_id), stream_to=f)
        return dest

    # --- outputs -----------------------------------------------------------------------

    def upload(self, path, filename=None):
        """Uploads a file for the run's outputs; returns its sha256. Counted
        against the run's output limit."""
        name = filename or os.path.basename(path)
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            res = self.client.request("PUT", self._base + "/files?filename=" + urllib.parse.quote(name),
                                      raw=f, headers={"Content-Type": "application/octet-stream",
                                                      "Content-Length": str(size)})
        return res["sha256"]

    def output(self, doc):
        """Stages an output document; see docs/processings.md for the types."""
        return self.client.request("POST", self._base + "/outputs", doc)

    def output_data(self, path, filename=None, tags=None, meta=None):
        """A new datalake item (an image file); returns its sha256, by which
        later outputs (tags, versions, annotations) may name it."""
        sha = self.upload(path, filename)
        doc = {"type": "data", "sha256": sha, "filename": filename or os.path.basename(path)}
        if tags:
            doc["tags"] = list(tags)
        if meta:
            doc["meta"] = dict(meta)
        self.output(doc)
        return sha

    def output_tags(self, data_ids=(), add=(), remove=(), sha256=()):
        doc = {"type": "tags", "add": list(add), "remove": list(remove)}
        if data_ids:
            doc["data_ids"] = [int(i) for i in data_ids]
        if sha256:
            doc["sha256"] = list(sha256)
        return self.output(doc)

    def output_annotations(self, annotations, mode="replace"):
        """Annotations on the input version ([{"asset_id" | "data_id" |
        "sha256", "shapes": [...]}])."""
        return self.output({"type": "annotations", "annotations": list(annotations), "mode": mode})

    def output_version(self, name, from_="input", data_ids=(), sha256=(), annotations=None,
                       labels=None, query=None, description=None, task=None, mode=None):
        """A new version of the input's dataset: a fork of the input
        (from_="input") or an empty one with its labels (from_="empty"),
        plus items and annotations."""
        doc = {"type": "dataset-version", "name": name, "from": from_}
        for k, v in (("data_ids", [int(i) for i in data_ids]), ("sha256", list(sha256)),
                     ("annotations", annotations), ("labels", labels), ("query", query),
                     ("description", description), ("task", task), ("mode", mode)):
            if v:
                doc[k] = v
        return self.output(doc)

    def output_model_version(self, model, files, labels=None, framework=None, params=None,
                             description=None):
        """A new model version; files: {path in the version: local file}."""
        doc = {"type": "model-version", "model": model,
               "files": [{"path": p, "sha256": self.upload(local, os.path.basename(p))}
                         for p, local in files.items()]}
        for k, v in (("labels", labels), ("framework", framework), ("params", params),
                     ("description", description)):
            if v is not None:
                doc[k] = v
        return self.output(doc)

    # --- custom training -------------------------------------------------------------------

    def experiment(self, **options):
        """For a run on an experiment: the tracking handle to log metrics,
        logs and artifacts to it (cvops.tracking.Experiment)."""
        if self.input.get("kind") != "experiment":
            raise CvopsError(0, "invalid_argument", "the input is a %s, not an experiment"
                             % self.input.get("kind"))
        return self.client.experiment(self.input["id"], **options)
