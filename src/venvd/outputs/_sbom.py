"""A CycloneDX 1.6 JSON SBOM of one environment, rendered with cyclonedx-python-lib.

What goes where:

- ``metadata.component``: the environment itself (type application, bom-ref ``environment``);
  ``metadata.properties``: the environment and lock ids and the target (``venvd:target:marker:<key>``
  for each marker-environment entry, ``venvd:target:tag`` for its first compatible tags, in order);
  ``metadata.tools``: venvd; ``metadata.timestamp``: when the environment was first requested.
- ``components``: one library per locked package: ``pkg:pypi/<name>@<version>`` purl (also its
  bom-ref), the sha256 of the file installed (from the manifest: the wheel, or the sdist it was
  built from), a distribution reference to that file's URL, and the licence its METADATA declares
  (PEP 639 expression, classifiers or License field; left out when it declares none).
- ``dependencies``: the environment depends on the lock's requested projects, each package on the
  packages of its lock entry's ``dependencies``.

The document is a function of the environment alone: the serial number is a UUID derived from
the environment id, and the timestamp is the environment's, so asking twice gives the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from venvd import __version__
from venvd.outputs._licences import Licence

__all__ = ["SBOM_MEDIA_TYPE", "TARGET_TAGS_SHOWN", "render_sbom"]

SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json; version=1.6"
# The first compatible tags name the target's best wheels; the full list can be thousands long.
TARGET_TAGS_SHOWN = 10
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://venvd/environments")


def render_sbom(*, env_id: str, lock: Mapping[str, Any], manifest: Mapping[str, Any] | None,
                licences: Mapping[str, Licence], created: datetime | None) -> str:
    """The SBOM as CycloneDX 1.6 JSON text. `lock` is the JSON lock the environment was built from,
    `manifest` its build manifest (for the files installed; without it every file the lock lists
    for a package is hashed), `licences` by canonical project name."""
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        Property,
        XsUri,
    )
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    installed = {canonicalize_name(str(p.get("name"))): p.get("file") or {}
                 for p in (manifest or {}).get("packages") or []}
    packages = sorted(lock.get("packages") or [], key=lambda p: str(p["name"]))
    environment = Component(
        type=ComponentType.APPLICATION, name=f"venvd-environment-{env_id[:12]}", version=env_id,
        bom_ref="environment", description="A Python virtual environment built by venvd")
    venvd_tool = Component(type=ComponentType.APPLICATION, name="venvd", version=__version__)
    metadata = BomMetaData(component=environment, properties=_target_properties(env_id, lock),
                           timestamp=created)
    metadata.tools.components.add(venvd_tool)
    bom = Bom(serial_number=uuid.uuid5(_SERIAL_NAMESPACE, env_id), metadata=metadata)

    components: dict[str, Component] = {}
    for package in packages:
        name = canonicalize_name(str(package["name"]))
        version = str(package["version"])
        purl = PackageURL(type="pypi", name=name, version=version)
        files = [f for f in package.get("files") or []
                 if not installed.get(name) or f.get("sha256") == installed[name].get("sha256")]
        properties = []
        if name in installed and installed[name].get("filename"):
            properties.append(Property(name="venvd:file", value=str(installed[name]["filename"])))
        component = Component(
            type=ComponentType.LIBRARY, name=name, version=version, purl=purl, bom_ref=purl.to_string(),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=str(f["sha256"])) for f in files],
            external_references=[
                ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(str(f["url"])),
                                  hashes=[HashType(alg=HashAlgorithm.SHA_256, content=str(f["sha256"]))])
                for f in files if f.get("url")],
            licenses=_licenses(licences.get(name)),
            properties=properties,
        )
        components[name] = component
        bom.components.add(component)

    roots = [components[n] for n in _names(lock.get("requirements") or []) if n in components]
    bom.register_dependency(environment, roots)
    for package in packages:
        name = canonicalize_name(str(package["name"]))
        depends = [components[n] for n in map(canonicalize_name, package.get("dependencies") or [])
                   if n in components and n != name]
        bom.register_dependency(components[name], depends)
    return JsonV1Dot6(bom).output_as_string(indent=2)


def _target_properties(env_id: str, lock: Mapping[str, Any]) -> list[Any]:
    from cyclonedx.model import Property

    target = lock.get("target") or {}
    properties = [Property(name="venvd:environment", value=env_id)]
    if lock.get("id"):
        properties.append(Property(name="venvd:lock", value=str(lock["id"])))
    for key, value in sorted((target.get("marker_environment") or {}).items()):
        properties.append(Property(name=f"venvd:target:marker:{key}", value=str(value)))
    tags = list(target.get("compatible_tags") or [])
    # Position-prefixed: CycloneDX does not keep the order of properties, tags' order matters.
    properties += [Property(name="venvd:target:tag", value=f"{i}:{tag}")
                   for i, tag in enumerate(tags[:TARGET_TAGS_SHOWN])]
    properties.append(Property(name="venvd:target:tags_total", value=str(len(tags))))
    return properties


def _names(requirements: Any) -> list[str]:
    names: list[str] = []
    for text in requirements:
        try:
            names.append(canonicalize_name(Requirement(str(text)).name))
        except InvalidRequirement:
            continue  # a lock's requirements were checked when it was made; skip, never fail here
    return names


def _licenses(licence: Licence | None) -> list[Any]:
    """The CycloneDX licences of `licence`: one expression, or one entry per id or name (the
    schema allows one or the other, not both)."""
    if licence is None or not licence.known:
        return []
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement

    declared = LicenseAcknowledgement.DECLARED
    factory = LicenseFactory()
    if licence.expression:
        return [factory.make_from_string(licence.expression, license_acknowledgement=declared)]
    if licence.ids or licence.names:
        return ([factory.make_from_string(i, license_acknowledgement=declared) for i in licence.ids]
                + [DisjunctiveLicense(name=n, acknowledgement=declared) for n in licence.names])
    text = licence.text or ""
    first_line = text.splitlines()[0].strip()
    if "\n" not in text.strip() and len(text) <= 100:
        # A name such as "MIT" or "Apache 2.0"; the factory turns known SPDX ids into ids.
        return [factory.make_from_string(text, license_acknowledgement=declared)]
    # A whole licence text pasted into the field: its first line names it, the text is attached.
    from cyclonedx.model import AttachedText

    return [DisjunctiveLicense(name=first_line[:100] or "see text", text=AttachedText(content=text),
                               acknowledgement=declared)]
