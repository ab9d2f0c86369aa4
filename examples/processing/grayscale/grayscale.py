"""grayscale: grey copies of a dataset version's images, in a new version.

An example of a custom processing in Python. A cvops worker runs it in a
fresh directory with its job in the environment; it reads the input version
through the API with the job's token, converts each image with libvips'
command line (`vips colourspace IN OUT b-w`), uploads the copies, and stages
two kinds of outputs: the new datalake items and a new dataset version that
holds them with the original annotations. Nothing is written unless the
script exits with status 0.

    cvops processing create examples/processing/grayscale/manifest.json \
          --file examples/processing/grayscale/grayscale.py
    cvops processing run grayscale --on dataset-version:12 --param tag=grey --wait

The worker needs python3, libvips' command line (Debian: libvips-tools) and
the cvops Python package (pip install ./clients/python, or PYTHONPATH in
the manifest's "env").
"""

import os
import subprocess
import sys

from cvops.processing import Job

# fields of a listed shape the API does not take back
DROP = ("id", "label_id", "bbox", "area")


def main():
    job = Job.from_env()
    params = job.params
    name = params.get("version_name") or "%s-gray-%d" % (job.input["name"], job.id)
    tag = params.get("tag") or "gray"
    assets = list(job.assets())
    job.log("%d assets in %s/%s" % (len(assets), job.input.get("dataset"), job.input["name"]))
    os.makedirs("out", exist_ok=True)
    shas, annotations = [], []
    for i, a in enumerate(assets):
        src = job.download(a["data_id"], "in_%d" % a["data_id"])
        dst = "out/%s_gray.png" % os.path.splitext(os.path.basename(a["filename"]))[0]
        subprocess.run(["vips", "colourspace", src, dst, "b-w"], check=True)
        os.unlink(src)
        sha = job.output_data(dst, tags=[tag], meta={"gray_of": a["data_id"], "job": job.id})
        shas.append(sha)
        if a.get("annotation") is not None:
            shapes = [{k: v for k, v in s.items() if k not in DROP} for s in a.get("shapes", [])]
            annotations.append({"sha256": sha, "shapes": shapes,
                                "status": a["annotation"].get("status") or "accepted"})
        job.progress((i + 1) / max(1, len(assets)), "%d of %d images" % (i + 1, len(assets)))
        print("converted %s" % a["filename"])  # plain stdout lines go to the job's log too
    job.output_version(name, from_="empty", sha256=shas, annotations=annotations,
                       description="grey copies of %s (job %d)" % (job.input["name"], job.id))
    job.log("staged %d grey images and version %s" % (len(shas), name))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the last lines of the log end up in the job's error
        print("grayscale failed: %s" % e, file=sys.stderr)
        raise
