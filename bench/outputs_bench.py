"""SBOM and OCI export figures (not a timed test): `python bench/outputs_bench.py [REQ ...]`.

Builds an environment for this interpreter from the public index (default: `jupyter`, 97 pins) in
a throwaway in-process service, then times: the SBOM cold (reading each distribution's METADATA
from the archive, rendering with cyclonedx-python-lib) and again (kept in memory); the OCI export
with a gzip layer and with an uncompressed one (materialize + layer, no base image). There is no
peer tool doing the same work here, so the figures are absolute: compare runs on one machine.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from venvd.client import LocalClient
from venvd.outputs._oci import OciOptions, export_oci
from venvd.service import Settings
from venvd.target import Target


def main(requirements: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="venvd-outputs-bench-") as tmp:
        root = Path(tmp)
        client = LocalClient(Settings(data_dir=root / "data"))  # type: ignore[call-arg]
        try:
            body = {"requirements": requirements, "target": Target.current().to_json()}
            doc = client.create_environment(body)
            start = time.perf_counter()
            for _ in client.events(doc["id"]):
                pass
            doc = client.environment(doc["id"])
            print(f"build: {doc['status']} in {time.perf_counter() - start:.2f} s, "
                  f"{len(doc['lock']['packages'])} packages, archive {doc['size'] / 1e6:.1f} MB")
            start = time.perf_counter()
            text = client.sbom(doc["id"])
            cold = time.perf_counter() - start
            start = time.perf_counter()
            client.sbom(doc["id"])
            warm = time.perf_counter() - start
            components = json.loads(text)["components"]
            licensed = sum(1 for c in components if c.get("licenses"))
            print(f"sbom: cold {cold:.2f} s, again {warm * 1000:.1f} ms; {len(components)} components, "
                  f"{licensed} with a licence; {len(text) / 1e3:.0f} kB")
            archive = root / "env.tar.zst"
            client.download(doc["id"], archive)
            for compression in ("gzip", "none"):
                options = OciOptions.checked(root / compression, base=None, tag="t", venv_path="/opt/venv",
                                             python_path=None, compression=compression)
                start = time.perf_counter()
                result = export_oci(archive, options, python=sys.executable)
                print(f"export --oci ({compression}): {time.perf_counter() - start:.2f} s, "
                      f"layer {result.layer_size / 1e6:.1f} MB")
        finally:
            client.close()


if __name__ == "__main__":
    main(sys.argv[1:] or ["jupyter"])
