"""schemathesis against `forge serve`'s own OpenAPI schema (issue 15, done-when): over a
real server on a loopback port (tests/test_serve.py's stand-in project), generated
requests to every operation never get a 500 and never a status code the schema does not
document. The two operations that start training runs are left out: they are tested end
to end in tests/test_client.py and tests/test_serve_train.py."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from .test_serve import READ, WRITE, make_served_project, start_server, stop_server

pytestmark = pytest.mark.slow  # ~20 generated requests per operation, each a real git/DVC call

LAUNCHES = ("/runs/launch", "/evals/run")


def test_no_500_and_no_undocumented_status(tmp_path):
    """Every operation, 20 generated cases each (schemathesis's pytest plugin does not run
    under pytest 9 yet, so the cases are drawn with hypothesis directly)."""
    project = make_served_project(tmp_path / "proj")
    proc, url = start_server(project, {"FORGE_API_KEYS": f"write:{WRITE},read:{READ}"})
    try:
        schema = schemathesis.openapi.from_url(url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        tested, statuses = [], []
        for operation in operations:
            if operation.path in LAUNCHES:
                continue

            @given(case=operation.as_strategy())
            @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
            def check(case) -> None:
                response = case.call_and_validate(
                    headers={"Authorization": f"Bearer {WRITE}"},
                    checks=[not_a_server_error, status_code_conformance],
                )
                statuses.append(response.status_code)

            check()
            tested.append(f"{operation.method.upper()} {operation.path}")
        assert len(tested) >= 15, tested
        assert len(statuses) >= 10 * len(tested), len(statuses)  # real requests, answered
        print(f"{len(statuses)} requests to {len(tested)} operations: "
              f"{ {c: statuses.count(c) for c in sorted(set(statuses))} }")  # fmt: skip
    finally:
        stop_server(proc)
