"""Tests of the Python client's model-operations calls against a real
server (tests/run-api): registry, deployments in monitor mode, review."""

import os
import sys
import unittest
import uuid
import zlib
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from cvops import Client, CvopsError  # noqa: E402

URL = os.environ.get("CVOPS_TEST_URL")
TOKEN = os.environ.get("CVOPS_TEST_TOKEN")


def png(w, h, seed):
    """A small valid RGB PNG whose pixels depend on seed."""
    rows = b"".join(b"\x00" + bytes(((x * 7 + y * 13 + seed * 31) % 256) for x in range(w * 3))
                    for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@unittest.skipUnless(URL and TOKEN, "needs a server: run through tests/run-api")
class OpsTest(unittest.TestCase):
    def setUp(self):
        self.c = Client(URL, TOKEN)

    def test_registry_round_trip(self):
        name = "py-model-" + uuid.uuid4().hex[:8]
        m = self.c.create_model(name, task_type="classification")
        self.assertEqual(m["name"], name)
        with self.assertRaises(CvopsError) as cm:
            self.c.create_model(name)
        self.assertEqual(cm.exception.status, 409)
        v = self.c.request("POST", "/api/v1/models/%d/versions" % m["id"], {"labels": ["a", "b"]})
        self.assertEqual(v["version"], 1)
        self.c.set_alias(m["id"], "champion", 1)
        self.assertEqual(self.c.model_version(m["id"], "champion")["id"], v["id"])
        self.assertIn(name, [x["name"] for x in self.c.models(q="py-model-")])

    def test_monitoring_and_review(self):
        d = self.c.create_deployment("py-dep-" + uuid.uuid4().hex[:8], sample_rate=1.0)
        p = self.c.report_prediction(d["id"], png(40, 30, 1),
                                     {"classes": [{"label": "cat", "score": 0.7}]}, latency_ms=12)
        self.assertEqual(p["top_label"], "cat")
        self.assertTrue(p["image_stored"])
        with self.assertRaises(CvopsError) as cm:
            self.c.report_prediction(d["id"], png(40, 30, 1), {"classes": []})
        self.assertEqual(cm.exception.status, 409)
        with self.assertRaises(CvopsError) as cm:
            self.c.report_prediction(d["id"], png(40, 30, 2), {"classes": [{"label": "x", "score": 2}]})
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("score", cm.exception.message)
        m = self.c.deployment_metrics(d["id"], resolution="hour")
        self.assertEqual(m["totals"]["count"], 1)
        r = self.c.review(p["id"], {"classes": [{"label": "dog"}]})
        self.assertEqual(r["status"], "reviewed")
        self.assertEqual(self.c.submit_reviews(d["id"])["submitted"], 1)
        self.assertEqual(len(self.c.predictions(d["id"], status="submitted")), 1)
        sv = self.c.deployment_supervised(d["id"])
        self.assertEqual(sv["reviews"], 1)
        self.assertEqual(sv["champion"]["accuracy"], 0.0)  # cat predicted, dog reviewed

    def test_pipeline_calls(self):
        d = self.c.create_deployment("py-pipe-" + uuid.uuid4().hex[:8])
        with self.assertRaises(CvopsError) as cm:
            self.c.deployment_pipeline(d["id"])
        self.assertEqual(cm.exception.status, 404)
        with self.assertRaises(CvopsError) as cm:
            self.c.set_deployment_pipeline(d["id"], {"train": 999999999})
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("does not exist", cm.exception.message)
        self.assertEqual(self.c.pipeline_runs(d["id"]), [])
        with self.assertRaises(CvopsError) as cm:  # no training dataset version known
            self.c.deployment_drift(d["id"])
        self.assertEqual(cm.exception.status, 422)
        self.assertEqual(self.c.predictions(d["id"], outlier=True), [])


if __name__ == "__main__":
    unittest.main()
