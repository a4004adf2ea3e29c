"""The telemetry tests' fixtures (a hive with its device key, clients), for the tests of
hive-facing telemetry: the API, the live streams, the simulator and the import."""

from tests.telemetry.conftest import alice_client, alice_hive, bob_client, device  # noqa: F401
