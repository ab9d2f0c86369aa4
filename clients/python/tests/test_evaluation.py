"""Tests of the Python client's evaluation helpers against a real cvops
server: the one started by tests/run-api ($CVOPS_TEST_URL, $CVOPS_TEST_TOKEN)."""

import os
import struct
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from cvops import Client, CvopsError  # noqa: E402

URL = os.environ.get("CVOPS_TEST_URL")
TOKEN = os.environ.get("CVOPS_TEST_TOKEN")


def bmp(w, h, seed):
    """A 24-bit BMP of w x h whose pixels depend on seed."""
    row = (w * 3 + 3) & ~3
    px = bytearray()
    for y in range(h):
        line = bytearray((x * 7 + y * 13 + seed * 31) & 0xFF for x in range(w * 3))
        px += line + b"\0" * (row - w * 3)
    head = struct.pack("<2sIHHI", b"BM", 54 + len(px), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(px), 2835, 2835, 0, 0)
    return head + info + bytes(px)


@unittest.skipUnless(URL and TOKEN, "needs a server: run through tests/run-api")
class EvaluationTest(unittest.TestCase):
    def test_evaluate_uploads_runs_and_logs_metrics(self):
        c = Client(URL, TOKEN)
        tag = uuid.uuid4().hex[:10]
        lake = c.request("POST", "/api/v1/datalakes", {"name": "pyev-" + tag})
        boundary = "pyevboundary"
        body = b""
        for i in range(3):
            body += (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p%d.bmp\""
                      "\r\n\r\n") % (boundary, i)).encode() + bmp(40, 30, i + len(tag)) + b"\r\n"
        body += ("--%s--\r\n" % boundary).encode()
        c.request("POST", "/api/v1/datalakes/%d/data/batch" % lake["id"], raw=body,
                  headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        ds = c.request("POST", "/api/v1/datasets", {"name": "pyev-" + tag, "datalake_id": lake["id"]})
        v = c.request("POST", "/api/v1/datasets/%d/versions" % ds["id"], {"name": "v1", "task": "detection"})
        c.request("POST", "/api/v1/dataset-versions/%d/assets" % v["id"], {"q": ""})
        c.request("POST", "/api/v1/dataset-versions/%d/labels" % v["id"], {"name": "car"})
        assets = [a["id"] for a in c.request("GET", "/api/v1/dataset-versions/%d/assets" % v["id"])["items"]]
        self.assertEqual(len(assets), 3)
        box = lambda b, s=None: dict({"kind": "box", "label": "car", "box": b}, **({"score": s} if s else {}))
        c.request("POST", "/api/v1/dataset-versions/%d/annotations" % v["id"], {"annotations": [
            {"asset_id": a, "shapes": [box([5, 5, 10, 10])]} for a in assets]})
        exp = c.create_experiment("pyev-" + tag, name="run")
        # exact on two images, nothing on the third: AP50 = 2/3 recall at precision 1
        ev = exp.evaluate(v["id"], {assets[0]: [box([5, 5, 10, 10], 0.9)],
                                    assets[1]: [box([5, 5, 10, 10], 0.8)]}, name="val")
        self.assertEqual(ev.status, "succeeded")
        stats = ev.summary["stats"]
        self.assertAlmostEqual(stats[1], 67 / 101, places=12)  # 67 of the 101 recall points
        self.assertEqual(ev.images(has_fn=True)["total"], 1)
        self.assertEqual(ev.confusion()["matrix"], [[2, 1], [0, 0]])
        names = {m["name"] for m in c.request("GET", "/api/v1/experiments/%d/metrics" % exp.id)["items"]}
        self.assertIn("eval/mAP50", names)
        # a bad prediction: the server's message, nothing uploaded
        with self.assertRaises(CvopsError) as cm:
            ev.log_predictions({assets[2]: [box([35, 5, 10, 10], 0.5)]})
        self.assertIn("exceeds image width 40", str(cm.exception))
        self.assertEqual(ev.refresh().data["predictions"], 2)


if __name__ == "__main__":
    unittest.main()
