"""The package builds and installs offline: the PEP 517 backend makes a
wheel whose RECORD matches its files, the wheel imports on its own (outside
the source tree), and pip installs the directory when pip is there."""

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import build_backend  # noqa: E402


class Packaging(unittest.TestCase):
    def test_wheel_has_every_module_and_a_true_record(self):
        with tempfile.TemporaryDirectory() as d:
            name = build_backend.build_wheel(d)
            self.assertTrue(name.endswith("-py3-none-any.whl"), name)
            with zipfile.ZipFile(os.path.join(d, name)) as z:
                names = set(z.namelist())
                for root, _, files in os.walk(os.path.join(ROOT, "cvops")):
                    for f in files:
                        if f.endswith(".py"):
                            rel = os.path.relpath(os.path.join(root, f), ROOT).replace(os.sep, "/")
                            self.assertIn(rel, names)
                record = [n for n in names if n.endswith(".dist-info/RECORD")]
                self.assertEqual(len(record), 1)
                for line in z.read(record[0]).decode().splitlines():
                    arc, digest, size = line.rsplit(",", 2)
                    if not digest:
                        continue
                    data = z.read(arc)
                    want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                    self.assertEqual(digest, "sha256=" + want, arc)
                    self.assertEqual(int(size), len(data), arc)
                # the wheel alone is importable: unpacked somewhere else
                z.extractall(os.path.join(d, "site"))
            out = subprocess.run([sys.executable, "-c", "import cvops, sys; print(cvops.__file__); "
                                  "print(hasattr(cvops, 'Client'))"],
                                 cwd=d, env={"PYTHONPATH": os.path.join(d, "site"), "PATH": os.environ.get("PATH", "")},
                                 capture_output=True, text=True, check=True)
            path, has_client = out.stdout.split()
            self.assertTrue(path.startswith(os.path.join(d, "site")), path)
            self.assertEqual(has_client, "True")

    def test_pip_installs_the_directory_offline(self):
        if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
            self.skipTest("pip is not installed for " + sys.executable)
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
                                "--disable-pip-version-check", "--target", os.path.join(d, "t"), ROOT],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertTrue(os.path.exists(os.path.join(d, "t", "cvops", "__init__.py")))


if __name__ == "__main__":
    unittest.main()
