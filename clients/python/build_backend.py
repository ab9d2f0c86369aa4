"""A PEP 517 build backend for the cvops package, in the standard library.

The package has no dependencies and one pure-Python module directory, so
building it needs nothing but zipfile: `pip install ./clients/python` then
works offline and without setuptools or wheel installed (pip runs this file
from the source tree; see pyproject.toml). It builds wheels, sdists and
editable installs (PEP 660).
"""

import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME = "cvops"
VERSION = "0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
TAG = "py3-none-any"

METADATA = """Metadata-Version: 2.1
Name: {name}
Version: {version}
Summary: Python client of the cvops computer-vision MLOps platform: experiment tracking from training scripts
Requires-Python: >=3.9
License: Apache-2.0
Description-Content-Type: text/markdown

""".format(name=NAME, version=VERSION)


def _readme():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return f.read()


def _package_files():
    base = os.path.join(HERE, NAME)
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                full = os.path.join(root, f)
                yield full, os.path.relpath(full, HERE).replace(os.sep, "/")


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def _dist_info():
    d = "%s-%s.dist-info" % (NAME, VERSION)
    return d, {
        d + "/METADATA": (METADATA + _readme()).encode("utf-8"),
        d + "/WHEEL": ("Wheel-Version: 1.0\nGenerator: cvops build_backend\n"
                       "Root-Is-Purelib: true\nTag: %s\n" % TAG).encode(),
        d + "/top_level.txt": (NAME + "\n").encode(),
    }


def _write_wheel(directory, entries):
    """entries: (arcname, bytes) of the payload; adds dist-info and RECORD."""
    dist, meta = _dist_info()
    name = "%s-%s-%s.whl" % (NAME, VERSION, TAG)
    records = []
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in list(entries) + list(meta.items()):
            z.writestr(arc, data)
            records.append(_record_line(arc, data))
        records.append(dist + "/RECORD,,")
        z.writestr(dist + "/RECORD", "\n".join(records) + "\n")
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist, meta = _dist_info()
    for arc, data in meta.items():
        path = os.path.join(metadata_directory, arc)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return dist


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    entries = []
    for full, arc in _package_files():
        with open(full, "rb") as f:
            entries.append((arc, f.read()))
    return _write_wheel(wheel_directory, entries)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """A wheel holding a .pth file that puts this source tree on sys.path."""
    return _write_wheel(wheel_directory, [("_cvops_editable.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, VERSION)
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        files = [(os.path.join(HERE, f), f) for f in
                 ("pyproject.toml", "README.md", "build_backend.py")]
        files += list(_package_files())
        for full, arc in files:
            t.add(full, arcname=base + "/" + arc)
        pkg_info = (METADATA + _readme()).encode("utf-8")
        info = tarfile.TarInfo(base + "/PKG-INFO")
        info.size = len(pkg_info)
        t.addfile(info, io.BytesIO(pkg_info))
    return name
