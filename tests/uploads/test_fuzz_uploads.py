"""Schemathesis on the private index's operations with the index that exists ("team"), so the
fuzzed uploads, pages and file names reach the checks behind the 404 of an unknown index: no 5xx,
every status documented, every response as its schema says."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.uploads.conftest import Team

EXAMPLES_PER_OPERATION = 40


@pytest.mark.slow
def test_fuzz_the_private_index_operations(team: Callable[..., Team]) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    server = team(max_upload_bytes=100_000)
    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/{index}/"):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
                      database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                # Always the index that exists (an unknown one is the whole-app fuzz test's).
                case.path_parameters = {**(case.path_parameters or {}), "index": "team"}
                case.call_and_validate(base_url=server.url, checks=checks, timeout=60)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE
        operations += 1
    assert operations == 4  # upload, the two pages, the file route
    assert server.rows() == 0  # nothing fuzzed is a valid distribution
