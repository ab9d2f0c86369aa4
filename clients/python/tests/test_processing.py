"""Tests of cvops.processing: Python commands run as custom processings by the
test server's own workers, using the helpers with their job token; and a
custom training launched on an experiment, logging through the tracking
client and publishing a model version when it succeeds."""

import json
import os
import random
import struct
import sys
import unittest
import uuid
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)
sys.path.insert(0, PKG)

from cvops import Client, CvopsError  # noqa: E402
from cvops.processing import Job, in_job  # noqa: E402

URL = os.environ.get("CVOPS_TEST_URL")
TOKEN = os.environ.get("CVOPS_TEST_TOKEN")


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def png(w, h, seed):
    rnd = random.Random(seed)
    raw = b"".join(b"\x00" + bytes(rnd.randrange(256) for _ in range(w * 3)) for _ in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@unittest.skipUnless(URL and TOKEN, "needs a server: run through tests/run-api")
class ProcessingTest(unittest.TestCase):
    def setUp(self):
        self.c = Client(URL, TOKEN)

    def define(self, target, script, extra=None):
        up = self.c.request("PUT", "/api/v1/files", raw=script.encode(),
                            headers={"Content-Type": "application/octet-stream"})
        m = {"name": unique("py"), "target": target, "command": ["python3", "run.py"],
             "env": {"PYTHONPATH": PKG},
             "files": [{"path": "run.py", "sha256": up["sha256"]}]}
        m.update(extra or {})
        return self.c.request("POST", "/api/v1/processings", m)["processing"]["name"]

    def wait(self, job_id, timeout=90):
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = self.c.request("GET", "/api/v1/jobs/%d" % job_id)
            if j["state"] in ("succeeded", "failed", "canceled"):
                return j
            time.sleep(0.1)
        self.fail("job %d did not finish" % job_id)

    def test_not_in_a_job(self):
        self.assertFalse(in_job() and os.environ.get("CVOPS_JOB_ID") is None)
        saved = os.environ.pop("CVOPS_JOB_ID", None)
        try:
            with self.assertRaises(RuntimeError):
                Job.from_env()
        finally:
            if saved is not None:
                os.environ["CVOPS_JOB_ID"] = saved

    def test_helpers_read_the_input_and_stage_outputs(self):
        lake = self.c.request("POST", "/api/v1/datalakes", {"name": unique("pylake")})["id"]
        ids = []
        for i in range(3):
            r = self.c.request("POST", "/api/v1/datalakes/%d/data?filename=p%d.png" % (lake, i),
                               raw=png(12, 10, i), headers={"Content-Type": "application/octet-stream"})
            ids.append(r["id"])
        ds = self.c.request("POST", "/api/v1/datasets", {"name": unique("pyds"), "datalake_id": lake})["id"]
        v = self.c.request("POST", "/api/v1/datasets/%d/versions" % ds, {"name": "v1"})["id"]
        self.c.request("POST", "/api/v1/dataset-versions/%d/assets" % v, {"data_ids": ids})
        self.c.request("POST", "/api/v1/dataset-versions/%d/labels" % v, {"name": "x"})
        self.c.request("POST", "/api/v1/dataset-versions/%d/annotations" % v, {"annotations": [
            {"data_id": ids[0], "shapes": [{"kind": "box", "label": "x", "box": [1, 1, 4, 4]}]}]})
        script = """
import os, shutil
from cvops.processing import Job
job = Job.from_env()
assets = list(job.assets())
job.log("got %d assets, first %s" % (len(assets), assets[0]["filename"]))
assert [l["name"] for l in job.labels()] == ["x"], job.labels()
for i, a in enumerate(assets):
    job.download(a["data_id"], "a.png")
    job.progress((i + 1) / len(assets), "asset %d" % a["id"])
sha = job.output_data("a.png", filename="copy.png", tags=["pycopy"], meta={"k": job.params["k"]})
job.output_tags(data_ids=[assets[1]["data_id"]], add=["touched"])
job.output_version("pyv", from_="input", query="label = x", sha256=[sha],
                   annotations=[{"sha256": sha, "shapes": [{"kind": "class", "label": "x"}]}])
print("input kind", job.input["kind"], "params", job.params)
"""
        name = self.define("dataset-version", script, {
            "parameters": [{"name": "k", "type": "integer", "default": 7}]})
        run = self.c.request("POST", "/api/v1/processings/%s/run" % name,
                             {"on": "dataset-version:%d" % v, "params": {"k": "9"}})
        j = self.wait(run["id"])
        log = self.c.request("GET", "/api/v1/jobs/%d/log?limit=1000" % run["id"])
        lines = [x["line"] for x in log["items"]]
        self.assertEqual(j["state"], "succeeded", "%s\n%s" % (j.get("error"), "\n".join(lines)))
        self.assertTrue(any("got 3 assets, first p0.png" in l for l in lines), lines)
        self.assertTrue(any("'k': 9" in l for l in lines), lines)
        types = sorted(o["type"] for o in j["result"]["outputs"])
        self.assertEqual(types, ["data", "dataset-version", "tags"])
        self.assertEqual(self.c.request("GET", "/api/v1/datalakes/%d/data/count?q=tag%%20%%3D%%20pycopy" % lake)["count"], 1)
        self.assertEqual(self.c.request("GET", "/api/v1/datalakes/%d/data/count?q=tag%%20%%3D%%20touched" % lake)["count"], 1)
        nv = [o for o in j["result"]["outputs"] if o["type"] == "dataset-version"][0]["id"]
        assets = self.c.request("GET", "/api/v1/dataset-versions/%d/assets?shapes=1" % nv)["items"]
        self.assertEqual(len(assets), 1 + 1, "the asset matching the query, and the copy")

    def test_custom_training_on_an_experiment(self):
        project = self.c.create_project(unique("pyproj"))
        exp = self.c.create_experiment(project.id, name="custom-train")
        model = unique("pymodel")
        script = """
from cvops.processing import Job
job = Job.from_env()
exp = job.experiment()
for step in range(20):
    exp.log_metric("loss", 1.0 / (step + 1), step)
exp.flush()
with open("weights.bin", "wb") as f:
    f.write(b"\\x01" * 1000)
exp.upload_artifact("weights.bin")
job.output({"type": "model-version", "model": job.params["model"], "from_experiment": True,
            "framework": "pytorch"})
job.progress(1.0, "trained")
"""
        name = self.define("experiment", script, {
            "parameters": [{"name": "model", "type": "string", "required": True}],
            "outputs": ["model-version"]})
        run = self.c.request("POST", "/api/v1/processings/%s/run" % name,
                             {"on": {"kind": "experiment", "id": exp.id}, "params": {"model": model}})
        j = self.wait(run["id"])
        self.assertEqual(j["state"], "succeeded", j.get("error"))
        pts = self.c.request("GET", "/api/v1/experiments/%d/points?name=loss&limit=1000" % exp.id)
        self.assertEqual(pts["total"], 20)
        out = [o for o in j["result"]["outputs"] if o["type"] == "model-version"]
        self.assertEqual(len(out), 1)
        ver = self.c.request("GET", "/api/v1/model-versions/%d" % out[0]["id"])
        self.assertEqual(ver["lineage"]["experiment_id"], exp.id)
        self.assertEqual(ver["framework"], "pytorch")

    def test_a_failing_training_publishes_nothing(self):
        project = self.c.create_project(unique("pyproj"))
        exp = self.c.create_experiment(project.id, name="bad-train")
        model = unique("pymodel")
        script = """
from cvops.processing import Job
job = Job.from_env()
job.output({"type": "model-version", "model": job.params["model"], "from_experiment": True})
raise SystemExit("diverged")
"""
        name = self.define("experiment", script, {
            "parameters": [{"name": "model", "type": "string", "required": True}]})
        run = self.c.request("POST", "/api/v1/processings/%s/run" % name,
                             {"on": "experiment:%d" % exp.id, "params": {"model": model}})
        j = self.wait(run["id"])
        self.assertEqual(j["state"], "failed")
        self.assertIn("diverged", j["error"])
        models = self.c.request("GET", "/api/v1/models?q=%s" % model)
        self.assertFalse(any(m["name"] == model for m in models["items"]))


if __name__ == "__main__":
    unittest.main()
