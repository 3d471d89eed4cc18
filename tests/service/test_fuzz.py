"""Schemathesis against the app's own OpenAPI document, on a real loopback server over the local
test index: no 5xx, every status documented, every response conforming to its schema.

Derandomized (hypothesis derives each run's examples from the test itself) with a bounded number
of examples per operation and mode, so CI runs the same cases every time in well under a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.service.conftest import ApiServer
from tests.support.index_server import LocalIndex
from venvd.service import Service

EXAMPLES_PER_OPERATION = 60


@pytest.mark.slow
def test_fuzz_the_openapi_document(
    world: LocalIndex, make_service: Callable[..., Service]
) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    # Small bounds so that fuzzed bodies meet them too.
    server = ApiServer(make_service(world, max_requirements=50, max_body_bytes=200_000,
                                    resolution_timeout=10.0, build_workers=1))
    try:
        document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
        schema = schemathesis.openapi.from_dict(document)
        checks = [not_a_server_error, status_code_conformance, content_type_conformance,
                  response_schema_conformance]
        started = time.monotonic()
        operations = 0
        with httpx.Client(base_url=server.url, timeout=60):
            for result in schema.get_all_operations():
                operation = result.ok()
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
                              database=None, suppress_health_check=list(HealthCheck))
                    @given(case=operation.as_strategy(generation_mode=mode))
                    def run(case: schemathesis.Case) -> None:
                        case.call_and_validate(base_url=server.url, checks=checks, timeout=60)

                    try:
                        run()
                    except Unsatisfiable:
                        # No input to get wrong (GET /v1/health): nothing negative to send.
                        assert mode is GenerationMode.NEGATIVE
                operations += 1
        assert operations >= 6
        assert time.monotonic() - started < 120
    finally:
        server.stop()
