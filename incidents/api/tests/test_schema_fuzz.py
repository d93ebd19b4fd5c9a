"""The API against its own schema: schemathesis generates requests from /api/openapi.json, as
served by a live server, and sends them with a manager's and a viewer's token.

Every operation the schema lists is run (an endpoint added later is covered without touching
this file), with data that fits the schema (positive) and data that does not (negative). A
request fails the test when the answer is a 5xx, has a status code the operation does not
document, a body that does not match the documented schema or content type, or when data
that breaks the schema is accepted (2xx). Failures are collected over all operations and
reported together.

Bounded for CI (it runs in `make test`, on SQLite and PostgreSQL): about FUZZ_BUDGET examples
in all (default 100, each sent with both tokens), shared out over the operations and both modes,
at least 2 each, so more endpoints make it not much slower; derandomized (the same requests on
every run), no shrinking, no example database. FUZZ_BUDGET=5000 for a long local run.
"""

import os
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from incidents.api.tests.support import personal_token
from incidents.models import IncidentType, ResponseRole, Service
from incidents.tests.factories import ServiceFactory, make_incident

BUDGET = int(os.environ.get("FUZZ_BUDGET", "100"))
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _real_values(reporter) -> dict[str, list]:
    """Values that name things that exist, by the parameter or property name that takes them, so
    that some generated requests get past "not found" to the code behind it."""
    ServiceFactory(name="Checkout", slug="checkout")
    incidents = [make_incident(by=reporter), make_incident(by=reporter, title="Search is slow")]
    return {
        "ref": [incident.ref for incident in incidents],
        "task_id": [task.pk for incident in incidents for task in incident.tasks.all()] or [1],
        "service": list(Service.objects.values_list("slug", flat=True)),
        "type": list(IncidentType.objects.values_list("slug", flat=True)),
        "role": list(ResponseRole.objects.values_list("slug", flat=True)),
        "person": [reporter.get_username()],
    }


def _use_real_values(case, real: dict[str, list], data) -> None:
    """Replace, at random (drawn by Hypothesis, so runs repeat), generated values by real ones;
    never in the part a negative case made invalid, which must reach the server as generated."""
    negated = {location for location, part in case.meta.components.items() if part.mode.is_negative}
    parts = {
        ParameterLocation.PATH: case.path_parameters,
        ParameterLocation.QUERY: case.query,
        ParameterLocation.BODY: case.body if isinstance(case.body, dict) else None,
    }
    for location, container in parts.items():
        if not container or location in negated:
            continue
        for name, values in real.items():
            if name in container and data.draw(st.booleans(), label=f"real {name}"):
                container[name] = data.draw(st.sampled_from(values), label=name)


@pytest.mark.django_db(transaction=True)
def test_every_operation_answers_as_its_schema_says(live_server, manager, viewer, reporter):
    real = _real_values(reporter)
    tokens = {"manager": personal_token(manager), "viewer": personal_token(viewer)}
    # Served by the live server, as a client reads it: no token needed (the schema is public).
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json")
    session = requests.Session()
    failures: list[str] = []
    sent = 0
    started = time.monotonic()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the schema lost operations"
    examples = max(2, BUDGET // (len(operations) * len(MODES)))
    for operation in operations:
        for mode in MODES:

            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            )
            @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
            def run(case, data):
                nonlocal sent
                _use_real_values(case, real, data)
                for role, token in tokens.items():
                    response = case.call(
                        base_url=live_server.url, session=session, headers={"Authorization": f"Bearer {token}"}
                    )
                    sent += 1
                    try:
                        case.validate_response(response, checks=CHECKS)
                    except Exception as error:
                        raise AssertionError(f"{role}: {error}") from None

            try:
                run()
            except Exception as error:  # noqa: BLE001 - every operation is tried; all failures are reported
                failures.append(f"{operation.label} ({mode.value}): {error}")
    session.close()  # its kept-alive connection holds a server thread, and that a database session
    took = time.monotonic() - started
    print(f"schema fuzz: {len(operations)} operations, {sent} requests in {took:.1f} s")
    assert not failures, "\n\n".join(failures)
