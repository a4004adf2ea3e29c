"""Fixtures of the schema fuzz (tests/fuzz/test_schema_fuzz.py).

- ``world``: a beekeeper who owns one of everything, the credentials to act as them, and
  the edits that point generated requests at those real objects.
- ``fuzz_findings``: every distinct check failure of one operation, reported together
  when the operation's examples have all run.
- ``server_crashes``: the exception behind each 500, which the response does not carry.
"""

from __future__ import annotations

import logging
import sys
import textwrap
import traceback
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import signals
from django.db import close_old_connections
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import Case, Response
from schemathesis.core.failures import AcceptedNegativeData, Failure, FailureGroup, ServerError
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import JsonSchemaError, UndefinedStatusCode

from accounts.models import User
from apiary.members import member_invite
from apiary.models import Event, QueenBee
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.factories import (
    PASSWORD,
    ApiaryFactory,
    BeekeeperFactory,
    EventFactory,
    HiveFactory,
    QueenFactory,
)

REPO = Path(__file__).resolve().parents[2]

# --- The fuzzed beekeeper's world -------------------------------------------------------

# The first path segment says what an operation's {id} is (/hives/{id}/queens: a hive).
_KIND_BY_PREFIX = {"apiaries": "apiary", "hives": "hive", "queens": "queen", "events": "event"}
# Other path parameters, by name.
_KIND_BY_PATH_PARAMETER = {"member_id": "member"}
# Body and query fields that reference one of the user's objects.
_KIND_BY_FIELD = {"apiary": "apiary", "hive": "hive", "mother": "queen"}


class _Dice:
    """Deterministic choices for one case: crc32 of the generated request, not random.

    Hypothesis runs derandomized, so the same requests come every run, and the choices
    made from them are repeatable too. (crc32, since hash() is salted per process.)
    """

    def __init__(self, case: Case) -> None:
        # No body is schemathesis's NOT_SET, whose repr() names its memory address.
        body = case.body if isinstance(case.body, (dict, list, str, bytes)) else None
        request = (case.method, case.path, case.path_parameters, case.query, body)
        self._seed = zlib.crc32(repr(request).encode())

    def roll(self, salt: str, sides: int) -> int:
        return zlib.crc32(f"{self._seed}:{salt}".encode()) % sides

    def real(self, salt: str) -> bool:
        # Seven requests in eight use the real thing (an existing object, valid
        # credentials) and get past the 404s and 401s into the code behind; one in eight
        # keeps the generated value (unknown ids, 0, huge numbers, wrong passwords). The
        # schema-invalid ids of negative cases reach the 404s anyway.
        return self.roll(salt, 8) != 0


def _is_valid_part(case: Case, location: ParameterLocation) -> bool:
    """Whether schemathesis generated `location` as schema-valid data.

    Only such parts are edited, and only with other valid values: an invalid part stays
    exactly as generated, so a case that should be refused still is, and schemathesis's
    record of which part is invalid (which negative_data_rejection relies on) stays true.
    """
    return case.meta is None or not case.meta.is_negative_at(location)


@dataclass
class FuzzWorld:
    """A beekeeper with an apiary, a hive with readings, queens and events."""

    user: User
    access: str
    refresh: str
    device_key: str
    ids: dict[str, list[int]] = field(default_factory=dict)
    # Fields the app refuses to change on an existing object, with their values:
    # {("queen", 12): {"introduced_at": "2025-05-01"}}.
    fixed: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def prepare(self, case: Case) -> None:
        """Authenticate `case` and aim most of it at the user's own objects."""
        dice = _Dice(case)
        case.headers["Authorization"] = f"Bearer {self.access}"
        if case.path == "/telemetry" and _is_valid_part(case, ParameterLocation.HEADER):
            if dice.real("device key"):
                case.headers["X-Device-Key"] = self.device_key
        if _is_valid_part(case, ParameterLocation.PATH):
            self._aim_path(case, dice)
        if _is_valid_part(case, ParameterLocation.QUERY):
            self._aim_references(case.query, dice)
        if _is_valid_part(case, ParameterLocation.BODY) and isinstance(case.body, dict):
            self._aim_references(case.body, dice)
            self._keep_fixed_fields(case, dice)
            self._use_real_credentials(case.path, case.body, dice)
            self._use_recent_reading_times(case.body, dice)

    def _aim_path(self, case: Case, dice: _Dice) -> None:
        kinds = {"id": _KIND_BY_PREFIX.get(case.path.strip("/").split("/")[0])}
        kinds.update(_KIND_BY_PATH_PARAMETER)
        for name, kind in kinds.items():
            if name in case.path_parameters and kind and dice.real(f"path {name}"):
                options = self.ids[kind]
                case.path_parameters[name] = options[dice.roll(f"path {name} id", len(options))]

    def _aim_references(self, data: dict[str, Any], dice: _Dice) -> None:
        for name, kind in _KIND_BY_FIELD.items():
            value = data.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and dice.real(name):
                options = self.ids[kind]
                data[name] = options[dice.roll(f"{name} id", len(options))]
        if all(isinstance(data.get(name), int) for name in ("hive", "apiary")):
            # An event belongs to a hive or to an apiary, not both: keep one (the schema
            # allows null for either), or every such event would be a 400.
            data["apiary" if dice.roll("event parent", 2) else "hive"] = None

    def _keep_fixed_fields(self, case: Case, dice: _Dice) -> None:
        """PUT/PATCH of a real object: mostly send its unchangeable fields unchanged (a
        queen's introduced_at, a hive's device_id once it has readings), or nearly every
        update would be a 400 before reaching the update itself."""
        segments = case.formatted_path.strip("/").split("/")
        if case.method not in ("PUT", "PATCH") or len(segments) != 2:
            return
        kind = _KIND_BY_PREFIX.get(segments[0], "")
        object_id = case.path_parameters.get("id")
        if not isinstance(object_id, int):
            return
        for name, value in self.fixed.get((kind, object_id), {}).items():
            if name in case.body and dice.real(f"keep {name}"):
                case.body[name] = value

    def _use_real_credentials(self, path: str, body: dict[str, Any], dice: _Dice) -> None:
        """Log in, refresh, log out and change the password for real, not only fail to."""
        if isinstance(body.get("refresh"), str) and dice.real("refresh"):
            body["refresh"] = self.refresh
        if path == "/auth/token" and isinstance(body.get("email"), str) and dice.real("login"):
            body["email"], body["password"] = self.user.email, PASSWORD
        if isinstance(body.get("old_password"), str) and dice.real("old password"):
            body["old_password"] = PASSWORD

    def _use_recent_reading_times(self, body: dict[str, Any], dice: _Dice) -> None:
        """A reading is stored only if its time is recent; generated times span years
        1-9999. Most get a time in the last day, so ingestion reaches the database."""
        readings = body.get("readings") if "readings" in body else [body]
        for index, reading in enumerate(readings if isinstance(readings, list) else []):
            if isinstance(reading, dict) and isinstance(reading.get("time"), str):
                if dice.real(f"time {index}"):
                    minutes_ago = dice.roll(f"minutes {index}", 24 * 60)
                    reading["time"] = iso_time(datetime.now(UTC) - timedelta(minutes=minutes_ago))


@pytest.fixture
def world(db: None) -> FuzzWorld:
    """The beekeeper's apiary holds a hive (device key ``device-key-fuzz-hive-1``) with
    two hours of readings, its current queen and her retired mother, an inspection, and
    an event of the apiary itself; another beekeeper is its editor, and an address not
    yet registered is invited as a viewer."""
    user = BeekeeperFactory()
    apiary = ApiaryFactory(owner=user, name="Fuzz yard")
    hive = HiveFactory(apiary=apiary, name="Fuzz hive", device_id="fuzz-hive-1")
    mother = QueenFactory(
        hive=hive,
        year_born=2023,
        introduced_at=date(2023, 5, 1),
        is_current=False,
        removed_at=date(2025, 4, 30),
        removal_reason=QueenBee.RemovalReason.SUPERSEDED,
    )
    queen = QueenFactory(hive=hive, mother=mother)
    inspection = EventFactory(
        hive=hive,
        type=Event.Type.INSPECTION,
        details={"frames_of_brood": 6, "temperament": "calm", "queen_seen": True},
    )
    yard_note = EventFactory(hive=None, apiary=apiary, type=Event.Type.NOTE)
    helper = BeekeeperFactory()
    member = member_invite(actor=user, apiary=apiary, email=helper.email, role="editor")
    invitation = member_invite(actor=user, apiary=apiary, email="future@example.com", role="viewer")
    now = datetime.now(UTC)
    readings_ingest(
        device_id=hive.device_id,
        readings=[
            {"time": iso_time(now - timedelta(minutes=10 * i)), "temperature": 34.5 + i / 10}
            for i in range(12)
        ],
    )
    refresh = RefreshToken.for_user(user)
    return FuzzWorld(
        user=user,
        access=str(refresh.access_token),
        refresh=str(refresh),
        device_key=f"device-key-{hive.device_id}",
        ids={
            "apiary": [apiary.pk],
            "hive": [hive.pk],
            "queen": [queen.pk, mother.pk],
            "event": [inspection.pk, yard_note.pk],
            "member": [member.pk, invitation.pk],
        },
        fixed={
            ("hive", hive.pk): {"device_id": hive.device_id},
            ("queen", queen.pk): {"introduced_at": queen.introduced_at.isoformat()},
            ("queen", mother.pk): {"introduced_at": mother.introduced_at.isoformat()},
        },
    )


# --- Findings: all distinct failures of an operation, at once ---------------------------


@dataclass
class Finding:
    operation: str
    title: str  # schemathesis's failure code and title: "ST101 Server error"
    detail: str  # what sets this failure apart from others of the same check
    report: str  # the failure, the response and a curl command, for the smallest request
    request: str  # that curl command, by whose length "smallest" is judged
    crash: Crash | None  # a 500's exception
    parts: frozenset[str] = frozenset()  # accepted invalid input: the invalid parameters
    violations: set[str] = field(default_factory=set)
    requests: int = 0


class Findings:
    """Distinct check failures of one operation.

    The test records failures instead of raising them. Raised, Hypothesis would stop at
    the first failing example (for coverage-phase cases: before the fuzzing phase runs),
    so a run would show one failure at a time; recorded, every distinct failure is
    reported in one run, each with the smallest request that showed it.
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Finding] = {}

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def record(
        self,
        case: Case,
        response: Response,
        failures: FailureGroup,
        crash: Crash | None,
    ) -> None:
        request = case.as_curl_command()
        answer = f"[{response.status_code}] {_excerpt(response.text_lossy())}"
        for failure in failures.exceptions:
            parts: frozenset[str] = frozenset()
            violations: set[str] = set()
            if isinstance(failure, AcceptedNegativeData):
                parts, violations = _invalid_parts(case)
            detail = _detail(failure, crash, parts)
            found = self._by_key.setdefault(
                (failure.code, detail),
                Finding(
                    operation=case.operation.label,
                    title=f"{failure.code} {failure.title}",
                    detail=detail,
                    report="",
                    request="",
                    crash=None,
                    parts=parts,
                ),
            )
            found.requests += 1
            found.violations |= violations
            if not found.request or len(request) < len(found.request):
                found.report = "\n\n".join(filter(None, [failure.message.strip(), answer, request]))
                found.request, found.crash = request, crash

    def render(self) -> str:
        findings = self._without_combinations()
        findings.sort(key=lambda finding: (finding.title, finding.detail))
        lines = [f"{len(findings)} distinct failure(s) in {findings[0].operation}:"]
        for number, finding in enumerate(findings, 1):
            seen = f"{finding.requests} request(s)"
            if finding.violations:
                seen += f"; violations: {', '.join(sorted(finding.violations))}"
            lines += [
                "",
                f"({number}) {finding.title}: {finding.detail}  [{seen}]",
                textwrap.indent(finding.report, "    "),
            ]
            if finding.crash:
                lines += [
                    "",
                    "    Server traceback (last lines):",
                    textwrap.indent(finding.crash.tail(), "    "),
                ]
        return "\n".join(lines)

    def _without_combinations(self) -> list[Finding]:
        """Accepted requests with several invalid parameters are no news when each of
        those parameters was also accepted invalid on its own."""
        findings = list(self._by_key.values())
        alone = {next(iter(f.parts)) for f in findings if len(f.parts) == 1}
        return [f for f in findings if len(f.parts) < 2 or not f.parts <= alone]


def _excerpt(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _detail(failure: Failure, crash: Crash | None, parts: frozenset[str]) -> str:
    """What makes two failures of a check the same defect."""
    if isinstance(failure, ServerError):
        origin = crash.origin if crash else "answered by the app itself (no exception)"
        return f"{failure.status_code}: {origin}"
    if isinstance(failure, AcceptedNegativeData):
        return "invalid " + " + ".join(sorted(parts))
    if isinstance(failure, UndefinedStatusCode):
        return str(failure.status_code)
    if isinstance(failure, JsonSchemaError):
        path = "/".join("*" if isinstance(p, int) else str(p) for p in failure.instance_path)
        where = f"response body/{path}" if path else "response body"
        keyword = str(failure.schema_path[-1]) if failure.schema_path else "schema"
        if keyword == "required":  # '"role" is a required property'
            return f"{where}: {failure.message.splitlines()[0]}"
        return f"{where} breaks `{keyword}`"
    return failure.message.splitlines()[0] if failure.message else failure.title


def _invalid_parts(case: Case) -> tuple[frozenset[str], set[str]]:
    """The parameters that schemathesis made invalid, and the schema keywords they broke."""
    phase = case.meta.phase.data if case.meta else None
    parts: set[str] = set()
    violations: set[str] = set()
    for mutation in getattr(phase, "mutations", ()):
        parts.add(_part(mutation.parameter_location, mutation.parameter))
        violations.update(mutation.keywords or [mutation.operator.value])
    if not parts and phase is not None:
        location = getattr(phase, "parameter_location", None)
        name = getattr(phase, "parameter", None)
        if location is ParameterLocation.BODY:
            # Coverage cases name the media type here; the pointer says which property.
            name = _top_level_property(getattr(phase, "location", None))
        parts.add(_part(location, name))
        scenario = getattr(phase, "scenario", None)
        violations.add(scenario.value if scenario else "")
    return frozenset(parts), violations - {""}


def _top_level_property(pointer: str | None) -> str | None:
    segments = [segment for segment in (pointer or "").split("/") if segment]
    if segments[:1] == ["properties"]:
        segments = segments[1:]
    return segments[0] if segments else None


def _part(location: ParameterLocation | None, name: str | None) -> str:
    where = location.value if location is not None and location.value else "request"
    return f"{where} `{name}`" if name else where


@pytest.fixture
def production_debug(settings: Any) -> None:
    """The app answers as in production: DEBUG off (no debug 404 and 500 pages, no
    development-only shortcuts), whatever DEBUG the shell running the suite exported."""
    settings.DEBUG = False


@pytest.fixture
def fuzz_findings() -> Findings:
    return Findings()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each operation's item its own node id (test_...[POST /hives]).

    schemathesis 4.32 builds the items with the bare function name as `originalname`, from
    which pytest 9 derives the node id: every operation would share one id, so -v,
    --durations, --lf and JUnit reports could not tell them apart. This sets what pytest's
    generic fallback would have (the item's name, label included).
    """
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and not item.nodeid.endswith("]") and hasattr(item, "_id"):
            item._id = item.parent.id.child(item.name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a fuzzed operation after all its examples ran, with everything they found."""
    result = yield
    findings = getattr(item, "funcargs", {}).get("fuzz_findings")
    if findings:
        pytest.fail(findings.render(), pytrace=False)
    return result


# --- Calling the app in process ---------------------------------------------------------


@dataclass(frozen=True)
class Crash:
    """The exception behind a 500, which the response does not carry."""

    origin: str  # "TypeError via apiary/api/views.py:76 in _nested_events"
    text: str  # the formatted traceback

    @classmethod
    def from_exception(cls, error: BaseException) -> Crash:
        frames = traceback.extract_tb(error.__traceback__)
        # The innermost frame of the project's own code names the place to fix.
        ours = [frame for frame in frames if _in_project(frame.filename)]
        frame = (ours or frames or [None])[-1]
        where = f"{_shown(frame.filename)}:{frame.lineno} in {frame.name}" if frame else "?"
        name = type(error).__qualname__
        return cls(origin=f"{name} via {where}", text="".join(traceback.format_exception(error)))

    def tail(self, lines: int = 12) -> str:
        return "\n".join(self.text.rstrip().splitlines()[-lines:])


def _in_project(filename: str) -> bool:
    path = Path(filename)
    return path.is_relative_to(REPO) and not path.is_relative_to(REPO / ".venv")


def _shown(filename: str) -> str:
    path = Path(filename)
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else filename


class ServerCrashes:
    """Receives got_request_exception: the app's exception for each 500, newest last."""

    def __init__(self) -> None:
        self.crashes: list[Crash] = []

    def __call__(self, **kwargs: Any) -> None:
        # Sent from Django's exception handling, so sys.exc_info() is the app's exception.
        error = sys.exc_info()[1]
        if error is not None:
            self.crashes.append(Crash.from_exception(error))

    @property
    def last(self) -> Crash | None:
        return self.crashes[-1] if self.crashes else None

    def clear(self) -> None:
        self.crashes.clear()


@pytest.fixture
def server_crashes() -> Iterator[ServerCrashes]:
    """Record 500s' exceptions, and keep the app from closing the test's connection.

    - got_request_exception carries the exception that a 500 response hides.
    - django.request would log every 4xx and 500 of thousands of requests; the findings
      report the ones that matter, so it is quiet for the fuzz.
    - The WSGI handler sends request_started/request_finished, whose receiver
      close_old_connections would drop the connection holding the test transaction (its
      autocommit is off). django.test.Client detaches it around each request the same way.
    """
    recorder = ServerCrashes()
    request_log = logging.getLogger("django.request")
    level = request_log.level
    signals.got_request_exception.connect(recorder)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    request_log.setLevel(logging.CRITICAL)
    yield recorder
    request_log.setLevel(level)
    signals.request_finished.connect(close_old_connections)
    signals.request_started.connect(close_old_connections)
    signals.got_request_exception.disconnect(recorder)
