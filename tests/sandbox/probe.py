"""`probe_sdist`: an sdist of project `probe` whose in-tree backend (no build requirements, so no
index is needed) runs test code in `get_requires_for_build_wheel`, the first hook of every build.

The code is the body of a function `probe()`; what it returns (a JSON-able value) is written into
the built wheel as `probe.py` (`FACTS = ...`), so a test can see what the build saw; raising makes
the build fail.
"""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
import zipfile
from pathlib import Path

_BACKEND = '''
import base64, hashlib, json, os, sys, zipfile

def probe():
{body}

_FACTS = []

def get_requires_for_build_wheel(config_settings=None):
    _FACTS.append(probe())
    with open("facts.json", "w") as f:
        json.dump(_FACTS[0], f)
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("facts.json") as f:
        facts = f.read()
    dist = "{name}-1.0"
    members = {{"probe.py": "FACTS = " + facts + "\\n"}}
    members[dist + ".dist-info/METADATA"] = "Metadata-Version: 2.1\\nName: {name}\\nVersion: 1.0\\n"
    members[dist + ".dist-info/WHEEL"] = ("Wheel-Version: 1.0\\nGenerator: t\\n"
                                          "Root-Is-Purelib: true\\nTag: py3-none-any\\n")
    rows = []
    for path, body in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=")
        rows.append("%s,sha256=%s,%d" % (path, digest.decode(), len(body.encode())))
    rows.append(dist + ".dist-info/RECORD,,")
    members[dist + ".dist-info/RECORD"] = "\\n".join(rows) + "\\n"
    name = dist + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path in sorted(members):
            zf.writestr(path, members[path])
    return name

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, "{name}-1.0.dist-info")
    os.makedirs(d)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: {name}\\nVersion: 1.0\\n")
    return "{name}-1.0.dist-info"
'''


def probe_sdist(directory: Path, body: str, *, name: str = "probe",
                metadata_version: str = "2.1") -> Path:
    """Write `<name>-1.0.tar.gz` whose build runs `body` (see the module docstring); its PKG-INFO
    is final (no metadata build) from `metadata_version` 2.2 on."""
    backend = _BACKEND.format(name=name, body=textwrap.indent(textwrap.dedent(body), "    "))
    tree = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "probe_backend"\n'
                          'backend-path = ["."]\n',
        "probe_backend.py": backend,
        "PKG-INFO": f"Metadata-Version: {metadata_version}\nName: {name}\nVersion: 1.0\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for rel, text in tree.items():
            info = tarfile.TarInfo(f"{name}-1.0/{rel}")
            info.size = len(text.encode())
            tf.addfile(info, io.BytesIO(text.encode()))
    return path


def facts(wheel: Path) -> object:
    """What the build's probe() returned."""
    with zipfile.ZipFile(wheel) as zf:
        return json.loads(zf.read("probe.py").decode()[len("FACTS = "):])
