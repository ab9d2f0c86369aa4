"""Evaluations: predictions of an experiment on a dataset version's assets,
scored by the server against the version's annotations (docs/evaluation.md).

    ev = exp.evaluate(version_id, {asset_id: [{"kind": "box", "label": "cat",
                                               "box": [x, y, w, h], "score": 0.9}]})
    print(ev.summary["stats"][0])          # mAP

Predictions are sent in requests of at most 5,000 images and 50,000 shapes
(each request is all or nothing on the server); `run()` starts the job and
waits for it.
"""

import time
import urllib.parse

from .client import CvopsError

__all__ = ["Evaluation"]

CHUNK_IMAGES = 5000
CHUNK_SHAPES = 50000


def _items(predictions):
    """{asset_id: [shapes]} or [{"asset_id"|"data_id", "shapes"}] -> items."""
    if isinstance(predictions, dict):
        return [{"asset_id": int(a), "shapes": list(s)} for a, s in predictions.items()]
    return list(predictions)


class Evaluation:
    """One evaluation; `data` is the server's record (refresh() re-reads it)."""

    def __init__(self, client, data):
        self.client = client
        self.data = data
        self.id = data["id"]

    def __repr__(self):
        return "<Evaluation %d %r %s>" % (self.id, self.data.get("name"), self.data.get("status"))

    @property
    def status(self):
        return self.data["status"]

    @property
    def summary(self):
        return self.data.get("summary")

    def refresh(self):
        self.data = self.client.request("GET", "/api/v1/evaluations/%d" % self.id)
        return self

    def log_predictions(self, predictions, mode="replace"):
        """Uploads predictions: {asset_id: [shape, ...]} or a list of
        {"asset_id" or "data_id", "shapes"}. mode "replace" replaces the
        named images' predictions, "append" adds. Returns the count sent."""
        items = _items(predictions)
        sent = 0
        i = 0
        while i < len(items):
            chunk, shapes = [], 0
            while i < len(items) and len(chunk) < CHUNK_IMAGES:
                k = len(items[i].get("shapes", []))
                if chunk and shapes + k > CHUNK_SHAPES:
                    break
                chunk.append(items[i])
                shapes += k
                i += 1
            r = self.client.request("POST", "/api/v1/evaluations/%d/predictions" % self.id,
                                    {"predictions": chunk, "mode": mode})
            sent += r["predictions"]
            self.data = r["evaluation"]
        return sent

    def run(self, ground_truth=None, split=None, iou_thr=None, score_thr=None, wait=True,
            timeout=None):
        """Scores the predictions (a job). With wait, returns when it ended;
        raises CvopsError if the run failed."""
        body = {k: v for k, v in (("ground_truth", ground_truth), ("split", split),
                                  ("iou_thr", iou_thr), ("score_thr", score_thr)) if v is not None}
        job = self.client.request("POST", "/api/v1/evaluations/%d/evaluate" % self.id, body)
        if not wait:
            return job
        t0 = time.time()
        delay = 0.05
        while job["state"] in ("queued", "running"):
            if timeout is not None and time.time() - t0 > timeout:
                raise CvopsError(0, "unavailable", "job %d did not finish within %gs"
                                 % (job["id"], timeout))
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
            job = self.client.request("GET", "/api/v1/jobs/%d" % job["id"])
        self.refresh()
        if job["state"] != "succeeded":
            raise CvopsError(422, "unprocessable", "evaluation %d failed: %s"
                             % (self.id, job.get("error")))
        return self.summary

    def images(self, **filters):
        """One page of per-image results: has_fp, has_fn, iou_below, label,
        min_score, max_score, order_by, limit, cursor."""
        q = urllib.parse.urlencode({k: (int(v) if isinstance(v, bool) else v)
                                    for k, v in filters.items() if v is not None})
        return self.client.request("GET", "/api/v1/evaluations/%d/images?%s" % (self.id, q))

    def pr_curves(self, label=None):
        q = "?label=" + urllib.parse.quote(label) if label else ""
        return self.client.request("GET", "/api/v1/evaluations/%d/pr-curves%s" % (self.id, q))

    def confusion(self):
        return self.client.request("GET", "/api/v1/evaluations/%d/confusion" % self.id)
