"""The named users' fixtures (alice_apiary, as_bob, ...) live in tests/conftest.py."""
