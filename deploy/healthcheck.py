"""Healthchecks of the compose stack's containers (docker-compose.yml); standard library
only, so they cost a container nothing to run.

    python deploy/healthcheck.py http [PORT]
        the app answers GET /health with 200 (both databases reachable)
    python deploy/healthcheck.py heartbeat FILE MAX_AGE_SECONDS
        a worker touched FILE within MAX_AGE_SECONDS (alerts_worker --heartbeat FILE)

Exit status 0 is healthy, 1 is not; one line on stdout says why.
"""

from __future__ import annotations

import http.client
import os
import sys
import time


def http_ok(port: int) -> tuple[bool, str]:
    # The first allowed host: Django refuses a Host it does not serve (400).
    host = (os.environ.get("ALLOWED_HOSTS") or "localhost").split(",")[0].strip() or "localhost"
    host = "localhost" if host.startswith(".") or host == "*" else host
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        # X-Forwarded-Proto: the app sits behind a TLS proxy and redirects plain HTTP.
        connection.request("GET", "/health", headers={"Host": host, "X-Forwarded-Proto": "https"})
        status = connection.getresponse().status
    except OSError as exc:
        return False, f"/health: {exc}"
    finally:
        connection.close()
    return status == 200, f"/health answered {status}"


def heartbeat_ok(path: str, max_age: float) -> tuple[bool, str]:
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError as exc:
        return False, f"no heartbeat: {exc}"
    return age <= max_age, f"last heartbeat {age:.0f} s ago (at most {max_age:g})"


def main(argv: list[str]) -> int:
    if argv[:1] == ["http"] and len(argv) <= 2:
        ok, why = http_ok(int(argv[1]) if len(argv) == 2 else 8000)
    elif argv[:1] == ["heartbeat"] and len(argv) == 3:
        ok, why = heartbeat_ok(argv[1], float(argv[2]))
    else:
        print(__doc__)
        return 2
    print(why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
