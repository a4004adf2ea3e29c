"""Schema-driven fuzzing of every operation in /schema, with schemathesis, in process.

One pytest item per operation (``test_operation_conforms_to_schema[POST /hives]``). Each
sends schemathesis's coverage-phase cases and MAX_EXAMPLES generated ones, valid and
invalid, to the real WSGI app on the real test databases, as a beekeeper who owns one of
everything (tests/fuzz/conftest.py), and fails if any response is

- a server error (5xx),
- an acceptance (2xx/3xx) of a request that violates the schema,
- a body that does not match the schema documented for its status code,
- a status code or a Content-Type the operation does not document (or a documented
  response header that does not match), or
- anything but a JSON 405 with an Allow header for a method the path does not have
  (the coverage phase sends each path TRACE, QUERY and the other methods it lacks; an
  unknown method such as BREW is tested in tests/foundation/test_contract.py).

The app runs as in production, with DEBUG off.

All distinct failures of an operation are reported together, each with a curl command for
the smallest request that showed it and, for a 500, the server's traceback.

    make test PYTEST_ARGS="tests/fuzz"                        # every operation
    make test PYTEST_ARGS="tests/fuzz -k 'POST and queens'"   # those whose name matches

(-k matches the item names; it cannot contain the braces of "{id}".)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import pytest
import schemathesis
from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, settings
from schemathesis.core.failures import FailureGroup

from beeapi.wsgi import application

if TYPE_CHECKING:
    from tests.fuzz.conftest import Findings, FuzzWorld, ServerCrashes

DATABASES = ("default", "telemetry")
pytestmark = pytest.mark.django_db(databases=list(DATABASES))

# Generated requests per operation, on top of the coverage phase's deterministic ones
# (boundary values, each parameter missing or of the wrong type...): about 200 requests
# per operation, and about two minutes for the whole run (~50 operations, two cores).
MAX_EXAMPLES = 150


@schemathesis.check
def method_not_allowed_is_json(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A 405 is JSON like every API error (unsupported_method checks status and Allow)."""
    if response.status_code == 405:
        content_type = (response.headers.get("content-type") or [""])[0]
        if not content_type.startswith("application/json"):
            raise AssertionError(f"405 for {case.method} answered as {content_type or 'no type'}")


CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            # Valid and invalid requests: invalid ones must be refused with a 4xx.
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            # Derandomized Hypothesis, without an example database: the same requests on
            # every run and machine, so a CI failure reproduces locally and a pass is stable.
            "deterministic": True,
            # The test authenticates every request as its beekeeper. Generated credentials
            # (random bearer tokens, session cookies) would be invalid and only reach 401s.
            "with-security-parameters": False,
        },
        "checks": {
            # Exactly the checks this test asserts, whatever schemathesis enables by default.
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "negative_data_rejection": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
            "unsupported_method": {"enabled": True},
            "method_not_allowed_is_json": {"enabled": True},
        },
    }
)

# Loaded from the app itself at collection (no database needed): the schema under test is
# exactly the one the API serves.
schema = schemathesis.openapi.from_wsgi("/schema", application, config=CONFIG)


@contextmanager
def _rolled_back() -> Iterator[None]:
    """Run one request in a savepoint on both databases, then undo it.

    Every request starts from the same world: a deleted hive, a rotated device key, a
    changed password, a blacklisted refresh token, a failed sign-in counted towards a
    lockout or a new reading do not leak into the next request, and an error inside the
    database cannot poison the test transaction. The cache (throttle counters) is emptied
    too, so the login and registration examples are not throttled by their predecessors.
    """
    with ExitStack() as stack:
        for alias in DATABASES:
            stack.enter_context(transaction.atomic(using=alias))
        try:
            yield
        finally:
            for alias in DATABASES:
                transaction.set_rollback(True, using=alias)
            cache.clear()


@schema.parametrize()
@settings(
    # No example database: a developer's run replays what it once found (.hypothesis/),
    # a clean clone (CI) does not; without it both send exactly the same requests.
    database=None,
    suppress_health_check=[
        # `world` is built once per operation, not per example. That is intended: each
        # example runs in a savepoint that is rolled back, so each sees the world as built.
        HealthCheck.function_scoped_fixture,
        # How fast data is generated depends on the machine; as Hypothesis's CI profile.
        HealthCheck.too_slow,
    ],
)
def test_operation_conforms_to_schema(
    case: schemathesis.Case,
    production_debug: None,
    world: FuzzWorld,
    fuzz_findings: Findings,
    server_crashes: ServerCrashes,
) -> None:
    world.prepare(case)
    server_crashes.clear()
    # call() + validate_response() is call_and_validate(), keeping the response. Both in
    # the savepoint: a check may send a request of its own (a control request for a
    # Content-Type probe, say).
    with _rolled_back():
        response = case.call()
        try:
            case.validate_response(response)
        except FailureGroup as failures:
            # Collected, not raised: tests/fuzz/conftest.py fails the operation once all
            # its requests ran, with every distinct failure.
            fuzz_findings.record(case, response, failures, server_crashes.last)
