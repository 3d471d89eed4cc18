"""What venvd makes of a built environment besides its archive: an SBOM and an OCI image.

    environment_sbom(service, env_id) -> str       # CycloneDX 1.6 JSON (server side)
    export_oci(archive, dest, ...) -> OciExport     # an OCI image layout (client side)

Imports are lazy: cyclonedx-python-lib loads only when an SBOM is rendered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from venvd.outputs._environment import environment_sbom
    from venvd.outputs._oci import OciExport, export_oci
    from venvd.outputs._sbom import SBOM_MEDIA_TYPE

__all__ = ["SBOM_MEDIA_TYPE", "OciExport", "environment_sbom", "export_oci"]


def __getattr__(name: str) -> Any:
    if name == "environment_sbom":
        from venvd.outputs._environment import environment_sbom

        return environment_sbom
    if name == "SBOM_MEDIA_TYPE":
        from venvd.outputs._sbom import SBOM_MEDIA_TYPE

        return SBOM_MEDIA_TYPE
    if name in ("OciExport", "export_oci"):
        from venvd.outputs import _oci

        return getattr(_oci, name)
    raise AttributeError(name)
