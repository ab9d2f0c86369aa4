"""Tests of the Python client against a real cvops server: the one started by
tests/run-api ($CVOPS_TEST_URL, $CVOPS_TEST_TOKEN)."""

import io
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)
sys.path.insert(0, PKG)

from cvops import Client, CvopsError  # noqa: E402

URL = os.environ.get("CVOPS_TEST_URL")
TOKEN = os.environ.get("CVOPS_TEST_TOKEN")


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def run_script(body, expect_rc=0):
    """Runs a Python script that uses the client; returns its output."""
    code = "import os, sys\nsys.path.insert(0, %r)\nfrom cvops import Client\n" \
           "client = Client(os.environ['CVOPS_TEST_URL'], os.environ['CVOPS_TEST_TOKEN'])\n" % PKG
    p = subprocess.run([sys.executable, "-c", code + textwrap.dedent(body)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != expect_rc:
        raise AssertionError("script exited %d (want %d):\n%s\n%s"
                             % (p.returncode, expect_rc, p.stdout, p.stderr))
    return p.stdout


@unittest.skipUnless(URL and TOKEN, "needs a server: run through tests/run-api")
class TrackingTest(unittest.TestCase):
    def setUp(self):
        self.client = Client(URL, TOKEN)
        self.project = unique("py")

    def count(self, exp_id, name):
        r = self.client.request("GET", "/api/v1/experiments/%d/points?name=%s&limit=100000"
                                % (exp_id, name))
        return r["total"], r

    def test_batches_arrive_in_order_with_automatic_steps(self):
        exp = self.client.create_experiment(self.project, params={"opt": {"lr": 0.1, "m": 0.9}})
        for i in range(25000):
            exp.log_metric("loss", 1.0 / (i + 1))
            if i % 10 == 0:
                exp.log_metric("acc", i / 25000.0, step=i)
        exp.flush()
        n, r = self.count(exp.id, "loss")
        self.assertEqual(n, 25000)
        self.assertEqual(r["steps"][:3], [0, 1, 2])
        self.assertEqual(r["steps"][-1], 24999)
        self.assertAlmostEqual(r["values"][9], 0.1)
        self.assertEqual(self.count(exp.id, "acc")[0], 2500)
        self.assertEqual(exp.refresh()["params"], {"opt.lr": 0.1, "opt.m": 0.9})
        exp.close()

    def test_log_metric_refuses_what_cannot_be_sent(self):
        exp = self.client.create_experiment(self.project)
        with self.assertRaises(ValueError):
            exp.log_metric("loss", float("nan"))
        with self.assertRaises(ValueError):
            exp.log_metric("loss", float("inf"), 1)
        with self.assertRaises(ValueError):
            exp.log_metric("", 1.0)
        with self.assertRaises(ValueError):
            exp.log_metric("loss", 1.0, -5)
        with self.assertRaises((TypeError, ValueError)):
            exp.log_metric("loss", "high")
        exp.log_metric("loss", 2, 7)  # ints are numbers
        exp.close()
        self.assertEqual(self.count(exp.id, "loss")[1]["steps"], [7])

    def test_log_metric_cost_per_call(self):
        """The calling thread's CPU time per call (wall time on a shared
        machine measures the neighbours; bench/tracking.sh reports both)."""
        exp = self.client.create_experiment(self.project)
        n = 300000
        t0, c0 = time.perf_counter(), time.thread_time()
        for i in range(n):
            exp.log_metric("loss", 0.5, i)
        per_call = (time.thread_time() - c0) / n
        wall = (time.perf_counter() - t0) / n
        exp.flush()
        self.assertLess(per_call, 5e-6, "%.2f µs of CPU per log_metric call (%.2f µs wall)"
                        % (per_call * 1e6, wall * 1e6))
        self.assertEqual(self.count(exp.id, "loss")[0], n)
        exp.close()

    def test_nothing_lost_when_the_process_exits(self):
        out = run_script("""
            exp = client.create_experiment(%r)
            for i in range(30000):
                exp.log_metric("loss", i * 0.5, i)
            exp.log_text("last words")
            print(exp.id)
            # no flush, no close: the exit hook sends the rest
        """ % self.project)
        exp_id = int(out.strip())
        self.assertEqual(self.count(exp_id, "loss")[0], 30000)
        lines = self.client.request("GET", "/api/v1/experiments/%d/output" % exp_id)["items"]
        self.assertEqual([x["line"] for x in lines], ["last words"])

    def test_nothing_lost_on_an_uncaught_exception(self):
        out = run_script("""
            exp = client.run(%r)          # without `with`
            print(exp.id, flush=True)
            for i in range(12345):
                exp.log_metric("loss", 1.0, i)
            raise RuntimeError("diverged")
        """ % self.project, expect_rc=1)
        exp_id = int(out.strip())
        self.assertEqual(self.count(exp_id, "loss")[0], 12345)
        self.assertEqual(self.client.experiment(exp_id).status, "failed")

    def test_run_sets_status_and_keeps_the_traceback(self):
        with self.client.run(self.project, params={"lr": 0.01}, tags=["ok"]) as exp:
            self.assertEqual(exp.status, "running")
            exp.log_metric("loss", 0.3, 1)
        fresh = self.client.experiment(exp.id)
        self.assertEqual(fresh.status, "succeeded")
        self.assertIsNotNone(fresh.data["finished_at"])
        self.assertIn(os.path.basename(sys.argv[0]) or "python", fresh.data["command"] or "python")
        with self.assertRaises(ZeroDivisionError):
            with self.client.run(self.project) as exp2:
                exp2.log_metric("loss", 1.0, 1)
                1 / 0
        fresh = self.client.experiment(exp2.id)
        self.assertEqual(fresh.status, "failed")
        self.assertEqual(self.count(exp2.id, "loss")[0], 1)
        lines = [x["line"] for x in exp2.output()["items"]]
        self.assertTrue(any("ZeroDivisionError" in x for x in lines), lines)
        with self.assertRaises(KeyboardInterrupt):
            with self.client.run(self.project) as exp3:
                raise KeyboardInterrupt
        self.assertEqual(self.client.experiment(exp3.id).status, "canceled")

    def test_captured_output(self):
        real = sys.stdout
        sys.stdout = io.StringIO()  # keep the test run quiet
        try:
            with self.client.run(self.project, capture_output=True) as exp:
                print("epoch 1: loss 0.5")
                print("epoch 2: loss", 0.25)
                sys.stdout.write("no newline at the end")
        finally:
            sys.stdout = real
        lines = [x["line"] for x in exp.output()["items"]]
        self.assertEqual(lines, ["epoch 1: loss 0.5", "epoch 2: loss 0.25", "no newline at the end"])

    def test_logs_artifacts_and_compare(self):
        a = self.client.create_experiment(self.project, params={"lr": 0.1})
        b = self.client.create_experiment(self.project, params={"lr": 0.01})
        a.log_table("errors", ["file", "score"], [["a.jpg", 0.5], ["b.jpg", None]])
        a.log_confusion_matrix("cm", ["cat", "dog"], [[5, 1], [2, 7]], step=3)
        a.log_label_map("classes", {0: "cat", 1: "dog"})
        a.log_value("best", 0.93)
        a.log_bar("per_class", ["cat", "dog"], [0.9, 0.8])
        png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
               b"\x00\x00\x00")
        sha = a.log_image("pred", png, step=1, caption="first")
        logs = {x["name"]: x for x in a.logs()}
        self.assertEqual(logs["cm"]["data"]["matrix"], [[5, 1], [2, 7]])
        self.assertEqual(logs["cm"]["step"], 3)
        self.assertEqual(logs["pred"]["data"]["sha256"], sha)
        self.assertEqual(logs["classes"]["data"]["labels"], {"0": "cat", "1": "dog"})
        with self.assertRaises(CvopsError) as cm:
            a.log_image("pred", b"not an image", step=2)
        self.assertEqual(cm.exception.status, 422)

        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "ckpt", "sub"))
            with open(os.path.join(d, "ckpt", "model.bin"), "wb") as f:
                f.write(os.urandom(300000))
            with open(os.path.join(d, "ckpt", "sub", "notes.txt"), "w") as f:
                f.write("hello")
            done = a.upload_artifact(os.path.join(d, "ckpt"))
            self.assertEqual(sorted(x["path"] for x in done), ["ckpt/model.bin", "ckpt/sub/notes.txt"])
            listed = {x["path"]: x for x in a.artifacts()}
            self.assertEqual(listed["ckpt/model.bin"]["size"], 300000)
            dest = os.path.join(d, "back.bin")
            a.download_artifact("ckpt/model.bin", dest)
            with open(dest, "rb") as f1, open(os.path.join(d, "ckpt", "model.bin"), "rb") as f2:
                self.assertEqual(f1.read(), f2.read())
            with self.assertRaises(CvopsError) as cm:
                a.download_artifact("ckpt/missing.bin", os.path.join(d, "x"))
            self.assertEqual(cm.exception.status, 404)
            self.assertFalse(os.path.exists(os.path.join(d, "x")))

        for i in range(5):
            a.log_metric("loss", 1.0 / (i + 1), i)
            b.log_metric("loss", 2.0 / (i + 1), i * 2)
        a.flush()
        b.flush()
        c = self.client.compare([a, b], metrics=["loss"])
        lr = [p for p in c["params"] if p["name"] == "lr"][0]
        self.assertTrue(lr["differs"])
        m = c["metrics"][0]
        self.assertEqual(m["steps"], [0, 1, 2, 3, 4, 6, 8])
        self.assertEqual(m["series"][1]["values"][1], None)
        view = a.metric("loss", points=3, method="lttb")
        self.assertEqual(len(view["steps"]), 3)
        table = self.client.experiments(self.project, order_by="param:lr", params=["lr"],
                                        metrics=["loss"])
        self.assertEqual([x["id"] for x in table["items"]], [b.id, a.id])
        a.close()
        b.close()

    def test_errors_are_explained(self):
        bad = Client(URL, "cvops_not_a_real_token_000000000000")
        with self.assertRaises(CvopsError) as cm:
            bad.projects()
        self.assertEqual(cm.exception.status, 401)
        with self.assertRaises(CvopsError) as cm:
            self.client.experiment(987654321)
        self.assertEqual(cm.exception.status, 404)
        self.assertIn("does not exist", cm.exception.message)
        down = Client("http://127.0.0.1:9", TOKEN)
        with self.assertRaises(CvopsError) as cm:
            down.projects()
        self.assertEqual(cm.exception.status, 0)

    def test_points_wait_for_an_unreachable_server(self):
        """The sender keeps points while the server cannot be reached and
        sends them when it can."""
        exp = self.client.create_experiment(self.project, flush_interval=0.05)
        good = exp.client
        exp.client = Client("http://127.0.0.1:9", TOKEN)
        for i in range(100):
            exp.log_metric("loss", 1.0, i)
        time.sleep(0.4)  # a few failed attempts
        exp.client = good
        exp.flush(timeout=30)
        self.assertEqual(self.count(exp.id, "loss")[0], 100)
        exp.close()


if __name__ == "__main__":
    unittest.main()
