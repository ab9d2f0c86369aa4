"""Tests of the Python client's pre-annotation call against a real server
(tests/run-api): the request reaches POST .../pre-annotate and its refusals
come back as CvopsError with the server's message (the predictions
themselves are tested in tests/api/test_preann.c)."""

import os
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from cvops import Client, CvopsError  # noqa: E402

URL = os.environ.get("CVOPS_TEST_URL")
TOKEN = os.environ.get("CVOPS_TEST_TOKEN")


@unittest.skipUnless(URL and TOKEN, "needs a server: run through tests/run-api")
class PreannTest(unittest.TestCase):
    def setUp(self):
        self.c = Client(URL, TOKEN)
        ds = self.c.request("POST", "/api/v1/datasets", {"name": "py-preann-" + uuid.uuid4().hex[:8]})
        self.version = self.c.request("POST", "/api/v1/datasets/%d/versions" % ds["id"],
                                      {"name": "v1", "task": "detection"})["id"]

    def test_refusals(self):
        with self.assertRaises(CvopsError) as cm:
            self.c.pre_annotate(self.version, experiment_id=999999)
        self.assertEqual(cm.exception.status, 404)
        self.assertIn("experiment 999999 does not exist", cm.exception.message)
        with self.assertRaises(CvopsError) as cm:
            self.c.pre_annotate(self.version)
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("give the model", cm.exception.message)
        with self.assertRaises(CvopsError) as cm:
            self.c.pre_annotate(self.version, model_version_id=1, score_threshold=3)
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("score_threshold", cm.exception.message)


if __name__ == "__main__":
    unittest.main()
