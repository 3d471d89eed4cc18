"""What core metadata declares about licences, read in PEP 639's order, and rendered in a schema-
valid way for each kind (expression, SPDX ids and names, free text, a whole licence text)."""

from __future__ import annotations

import json

import pytest

from venvd.outputs._licences import Licence, licence_of, metadata_members
from venvd.outputs._sbom import render_sbom

HEAD = "Metadata-Version: 2.4\nName: p\nVersion: 1.0\n"
MIT_TEXT = "MIT License\n\nCopyright (c) 2020 Someone\n\nPermission is hereby granted, free of charge"


@pytest.mark.parametrize(("lines", "expected"), [
    # The expression wins over everything else (PEP 639).
    ("License-Expression: Apache-2.0 OR MIT\nLicense: BSD\n"
     "Classifier: License :: OSI Approved :: MIT License\n", Licence(expression="Apache-2.0 OR MIT")),
    ("Classifier: License :: OSI Approved :: Apache Software License\n"
     "Classifier: License :: OSI Approved\nClassifier: Programming Language :: Python\n",
     Licence(ids=("Apache-2.0",))),
    ("Classifier: License :: OSI Approved :: BSD License\nLicense: BSD-3-Clause\n",
     Licence(names=("BSD License",))),
    ("License: BSD-3-Clause\n", Licence(text="BSD-3-Clause")),
    ("License: UNKNOWN\n", Licence()),
    ("", Licence()),
])
def test_licence_of(lines: str, expected: Licence) -> None:
    assert licence_of(HEAD + lines + "\n") == expected


def test_metadata_members_are_the_top_level_dist_info_only() -> None:
    files = ["lib/python3.11/site-packages/p-1.0.dist-info/METADATA",
             "lib/python3.11/site-packages/p/vendored/q-2.0.dist-info/METADATA",
             "bin/p", "lib/python3.11/site-packages/p/__init__.py"]
    assert metadata_members("lib/python3.11/site-packages", files) == [files[0]]


@pytest.mark.parametrize("licence", [
    Licence(expression="Apache-2.0 OR MIT"), Licence(expression="not an spdx thing ((("),
    Licence(ids=("MIT", "Apache-2.0"), names=("BSD License",)), Licence(text="Apache 2.0"),
    Licence(text=MIT_TEXT), Licence(),
])
def test_every_kind_of_licence_renders_valid_cyclonedx(licence: Licence) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    target = {"marker_environment": {}, "compatible_tags": []}
    lock = {"id": "l" * 64, "requirements": ["p"], "target": target,
            "packages": [{"name": "p", "version": "1.0", "dependencies": [],
                          "files": [{"filename": "p-1.0-py3-none-any.whl", "url": "http://x/p.whl",
                                     "sha256": "a" * 64}]}]}
    text = render_sbom(env_id="e" * 64, lock=lock, manifest=None, licences={"p": licence}, created=None)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    component = json.loads(text)["components"][0]
    if licence.text == MIT_TEXT:
        assert component["licenses"][0]["license"]["name"] == "MIT License"
        assert component["licenses"][0]["license"]["text"]["content"] == MIT_TEXT
    assert ("licenses" in component) == licence.known
