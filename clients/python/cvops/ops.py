"""Model operations from Python: the registry (models, versions, aliases,
publishing experiments), deployments (reporting predictions made elsewhere,
reading monitoring series, reviewing predictions), datalake uploads and
webhooks. Standard library only; every call maps to one REST endpoint
(see docs/operations.md) and raises CvopsError with the server's message."""

import json
import mimetypes
import os
import urllib.parse
import uuid


def _q(params):
    """Query string from the params that are not None."""
    items = [(k, v) for k, v in params.items() if v is not None]
    return ("?" + urllib.parse.urlencode(items, doseq=True)) if items else ""


def multipart(fields, files):
    """Encodes a multipart/form-data body: fields {name: str}, files
    {name: (filename, bytes, content_type)}. Returns (body, content_type)."""
    boundary = "cvops-" + uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        if value is None:
            continue
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n"
                    % (boundary, name)).encode("utf-8"))
        out.append((value if isinstance(value, str) else json.dumps(value)).encode("utf-8"))
        out.append(b"\r\n")
    for name, (filename, data, ctype) in files.items():
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                    "Content-Type: %s\r\n\r\n" % (boundary, name, filename.replace('"', "_"),
                                                  ctype)).encode("utf-8"))
        out.append(data)
        out.append(b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode("utf-8"))
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def _image_bytes(image):
    """A path or bytes -> (filename, bytes, content type)."""
    if isinstance(image, (bytes, bytearray)):
        return "image", bytes(image), "application/octet-stream"
    with open(image, "rb") as f:
        data = f.read()
    return (os.path.basename(image), data,
            mimetypes.guess_type(image)[0] or "application/octet-stream")


class Ops:
    """Mixed into Client."""

    # --- datalake ----------------------------------------------------------

    def datalakes(self):
        return self.request("GET", "/api/v1/datalakes")["items"]

    def upload_image(self, datalake_id, image, tags=None, source=None, metadata=None):
        """Uploads one image; returns the item (with "duplicate": True when
        the datalake already had the content)."""
        name, data, _ = _image_bytes(image)
        q = _q({"filename": name, "tag": list(tags or []), "source": source,
                "meta": json.dumps(metadata) if metadata is not None else None})
        return self.request("POST", "/api/v1/datalakes/%d/data%s" % (datalake_id, q), raw=data,
                            headers={"Content-Type": "application/octet-stream"})

    # --- pre-annotation --------------------------------------------------------

    def pre_annotate(self, version_id, experiment_id=None, model_version_id=None, query=None,
                     score_threshold=None, nms_threshold=None, max_detections=None,
                     replace_pending=None, file=None, wait=False, timeout=3600.0):
        """Pre-annotates a dataset version with a trained checkpoint (of an
        experiment or a registry model version): its predictions become
        pending annotations with scores; accepted, rejected and skipped ones
        are never touched. Returns the run (its "id" is the job's); with
        wait=True, polls the job until it ends and returns the job."""
        body = {}
        for k, v in (("experiment_id", experiment_id), ("model_version_id", model_version_id),
                     ("query", query), ("score_threshold", score_threshold),
                     ("nms_threshold", nms_threshold), ("max_detections", max_detections),
                     ("replace_pending", replace_pending), ("file", file)):
            if v is not None:
                body[k] = v
        run = self.request("POST", "/api/v1/dataset-versions/%d/pre-annotate" % version_id, body)
        if not wait:
            return run
        import time
        from .client import CvopsError
        deadline = time.monotonic() + timeout
        while True:
            job = self.request("GET", "/api/v1/jobs/%d" % run["id"])
            if job.get("state") in ("succeeded", "failed", "canceled"):
                return job
            if time.monotonic() > deadline:
                raise CvopsError(0, "timeout", "job %d still %s after %g s"
                                 % (run["id"], job.get("state"), timeout))
            time.sleep(0.2)

    # --- registry ------------------------------------------------------------

    def models(self, q=None):
        return self.request("GET", "/api/v1/models" + _q({"q": q}))["items"]

    def create_model(self, name, description=None, task_type=None, tags=None):
        body = {"name": name}
        if description is not None:
            body["description"] = description
        if task_type is not None:
            body["task_type"] = task_type
        if tags is not None:
            body["tags"] = list(tags)
        return self.request("POST", "/api/v1/models", body)

    def model_versions(self, model_id):
        return self.request("GET", "/api/v1/models/%d/versions" % model_id)["items"]

    def model_version(self, model_id, ref):
        """A version by number or alias ("champion")."""
        return self.request("GET", "/api/v1/models/%d/versions/%s"
                            % (model_id, urllib.parse.quote(str(ref), safe="")))

    def publish(self, experiment_id, model, files=None, labels=None, framework=None):
        """Publishes an experiment's artifacts as a new version of model (a
        name, created if new, or an id)."""
        body = {"model_id": model} if isinstance(model, int) else {"model": model}
        if files is not None:
            body["files"] = list(files)
        if labels is not None:
            body["labels"] = list(labels)
        if framework is not None:
            body["framework"] = framework
        return self.request("POST", "/api/v1/experiments/%d/publish" % experiment_id, body)

    def set_alias(self, model_id, alias, version):
        return self.request("PUT", "/api/v1/models/%d/aliases/%s"
                            % (model_id, urllib.parse.quote(alias, safe="")), {"version": version})

    # --- deployments -----------------------------------------------------------

    def deployments(self):
        return self.request("GET", "/api/v1/deployments")["items"]

    def create_deployment(self, name, mode="monitor", champion_version_id=None,
                          shadow_version_id=None, datalake_id=None, sample_rate=None,
                          min_score=None):
        body = {"name": name, "mode": mode}
        for k, v in (("champion_version_id", champion_version_id),
                     ("shadow_version_id", shadow_version_id), ("datalake_id", datalake_id),
                     ("sample_rate", sample_rate), ("min_score", min_score)):
            if v is not None:
                body[k] = v
        return self.request("POST", "/api/v1/deployments", body)

    def report_prediction(self, deployment_id, image, predictions, latency_ms=None,
                          timestamp=None, shadow=None, source=None):
        """Monitor mode: reports what a model served elsewhere predicted on
        an image. predictions: {"classes": [{"label", "score"}], "boxes":
        [{"x", "y", "w", "h", "label", "score"}]}."""
        body, ctype = multipart(
            {"predictions": predictions, "shadow": shadow,
             "latency_ms": None if latency_ms is None else repr(float(latency_ms)),
             "timestamp": timestamp, "source": source},
            {"image": _image_bytes(image)})
        return self.request("POST", "/api/v1/deployments/%d/predictions" % deployment_id,
                            raw=body, headers={"Content-Type": ctype})

    def predict(self, deployment_id, image):
        """Serve mode: the champion's predictions for an image."""
        name, data, _ = _image_bytes(image)
        return self.request("POST", "/api/v1/deployments/%d/predict%s"
                            % (deployment_id, _q({"filename": name})), raw=data,
                            headers={"Content-Type": "application/octet-stream"})

    def deployment_metrics(self, deployment_id, resolution="minute", start=None, end=None):
        return self.request("GET", "/api/v1/deployments/%d/metrics%s"
                            % (deployment_id, _q({"resolution": resolution, "from": start,
                                                  "to": end})))

    def predictions(self, deployment_id, status=None, label=None, min_score=None,
                    max_score=None, limit=100, outlier=None, out_of_range=None):
        """outlier / out_of_range: True or False to filter on the drift flags
        (scored by deployment_drift)."""
        flag = lambda v: None if v is None else int(bool(v))  # noqa: E731
        return self.request("GET", "/api/v1/deployments/%d/predictions%s"
                            % (deployment_id, _q({"status": status, "label": label,
                                                  "min_score": min_score,
                                                  "max_score": max_score, "limit": limit,
                                                  "outlier": flag(outlier),
                                                  "out_of_range": flag(out_of_range)})))["items"]

    def deployment_drift(self, deployment_id, start=None, end=None, dataset_version_id=None,
                         outlier_percentile=None, limit=None):
        """Kolmogorov-Smirnov drift per image feature and over the predicted
        labels against the training dataset version, and outlier scores."""
        return self.request("GET", "/api/v1/deployments/%d/drift%s"
                            % (deployment_id, _q({"from": start, "to": end,
                                                  "dataset_version_id": dataset_version_id,
                                                  "outlier_percentile": outlier_percentile,
                                                  "limit": limit})))

    def deployment_supervised(self, deployment_id, start=None, end=None):
        """Champion and shadow against the reviews, by top class."""
        return self.request("GET", "/api/v1/deployments/%d/supervised%s"
                            % (deployment_id, _q({"from": start, "to": end})))

    # --- pipeline: feedback, continuous training and deployment ---------------

    def deployment_pipeline(self, deployment_id):
        return self.request("GET", "/api/v1/deployments/%d/pipeline" % deployment_id)

    def set_deployment_pipeline(self, deployment_id, datasets, project_id=None, params=None,
                                reviews_to_train=None, policy=None, metric=None, margin=None,
                                feedback_version_id=None, feedback_tags=None):
        """datasets: {"train": version id, "test": version id}; policy:
        "champion", "shadow" or "manual"."""
        body = {"datasets": datasets}
        for k, v in (("project_id", project_id), ("params", params),
                     ("reviews_to_train", reviews_to_train), ("policy", policy),
                     ("metric", metric), ("margin", margin),
                     ("feedback_version_id", feedback_version_id),
                     ("feedback_tags", None if feedback_tags is None else list(feedback_tags))):
            if v is not None:
                body[k] = v
        return self.request("PUT", "/api/v1/deployments/%d/pipeline" % deployment_id, body)

    def pipeline_runs(self, deployment_id):
        return self.request("GET", "/api/v1/deployments/%d/pipeline/runs" % deployment_id)["items"]

    def start_pipeline_run(self, deployment_id):
        """Starts a continuous-training run now: {"pipeline_run_id", "job_id"}."""
        return self.request("POST", "/api/v1/deployments/%d/pipeline/runs" % deployment_id)

    def review(self, prediction_id, output):
        return self.request("PUT", "/api/v1/predictions/%d/review" % prediction_id,
                            {"output": output})

    def submit_reviews(self, deployment_id, ids=None):
        body = {"ids": list(ids)} if ids is not None else None
        return self.request("POST", "/api/v1/deployments/%d/submit" % deployment_id, body)

    # --- webhooks ---------------------------------------------------------------

    def webhooks(self):
        return self.request("GET", "/api/v1/webhooks")["items"]

    def create_webhook(self, url, secret, events="*", description=None):
        body = {"url": url, "secret": secret, "events": events}
        if description is not None:
            body["description"] = description
        return self.request("POST", "/api/v1/webhooks", body)
