"""Logs two training runs with the repository's Python client (clients/python),
as a training script would, for tests/web/projects.test.mjs.

    PYTHONPATH=clients/python CVOPS_SERVER=URL CVOPS_TOKEN=TOKEN python3 tests/web/track_runs.py PROJECT

Each run logs parameters, 2,000 steps of loss and accuracy, a table, a
confusion matrix, an image at three steps, a bar chart, a label map, output
lines and an artifact. The metric formulas are repeated in the test, which
checks the charts' tooltips against them. Prints a JSON summary.
"""

import json
import math
import os
import struct
import sys
import tempfile
import zlib

import cvops

STEPS = 2000
LABELS = ["cat", "dog", "bird"]


def loss(step, run):
    return 2.0 * math.exp(-step / (400.0 + 200.0 * run)) + 0.05 + 0.02 * math.sin(step / 7.0)


def accuracy(step, run):
    return 1.0 - math.exp(-step / (500.0 + 100.0 * run))


def confusion(run):
    return [[50, 3, 1], [4, 45, 2], [0, 5, 40 + run]]


def png(width, height, seed):
    """A small RGB PNG (gradient), standard library only."""
    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in ((x * 4 + seed) % 256, (y * 5) % 256, 128))
        for y in range(height))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main():
    project = sys.argv[1]
    client = cvops.Client()  # $CVOPS_SERVER, $CVOPS_TOKEN
    runs = []
    for run, (name, lr, opt, batch) in enumerate([("baseline", 0.01, "adam", 32), ("tuned", 0.003, "sgd", 64)]):
        with client.run(project, name=name, tags=["e2e", name],
                        params={"lr": lr, "optimizer": opt, "batch": batch,
                                "model": {"depth": 18, "pretrained": True}}) as exp:
            for step in range(STEPS):
                exp.log_metrics({"loss": loss(step, run), "accuracy": accuracy(step, run)}, step)
            exp.log_table("errors", ["file", "score"], [["a.jpg", 0.1], ["b.jpg", 0.35], ["c.jpg", None]])
            exp.log_confusion_matrix("val/cm", LABELS, confusion(run))
            for step in (0, 1000, 1999):
                exp.log_image("predictions", png(96, 64, step), step=step, caption="step %d" % step)
            exp.log_bar("per-class AP", LABELS, [0.9, 0.8, 0.7 + run / 10])
            exp.log_label_map("classes", LABELS)
            exp.log_value("best_accuracy", accuracy(STEPS - 1, run))
            for epoch in range(1, 4):
                exp.log_text("epoch %d/3 %s loss=%.4f" % (epoch, name, loss(epoch * 600, run)))
            exp.log_text("training of %s finished" % name)
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump({"run": name, "lr": lr}, f)
            exp.upload_artifact(f.name, "config/run.json")
            os.unlink(f.name)
            runs.append({"id": exp.id, "name": name})
    proj = client.project(project, create=False)
    print(json.dumps({"project_id": proj.id, "runs": runs}))


if __name__ == "__main__":
    main()
