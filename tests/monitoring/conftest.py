"""The telemetry tests' fixtures (a hive with its device key, clients), for the tests of
hive-facing telemetry: the API, the live streams, the simulator and the import."""

# alice_client and bob_client are tests/conftest.py's.
from tests.telemetry.conftest import alice_hive, device  # noqa: F401
