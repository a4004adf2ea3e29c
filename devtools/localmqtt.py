"""A project-local Mosquitto with the dynamic-security plugin, for ``make run``, ``make test``
and the tests that stop a broker of their own (devtools/devstack.py, tests/sensors).

The machine's mosquitto (installed with apt-get when absent) runs on 127.0.0.1 only, on a
free port, with its configuration, dynamic-security file and admin password in one
directory. The admin password is random, written to ``admin_password`` (mode 0600) and
never printed; BeeAPI gets it as MQTT_ADMIN_PASSWORD.
"""

from __future__ import annotations

import getpass
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools import localpg

ADMIN_USERNAME = "beeapi-admin"
# mqtt_ingest acknowledges a message after its readings commit, so while it is down or
# behind, the broker queues its session's messages; Mosquitto's default of 1,000 per
# client would drop the rest. Bounded: a consumer gone for days must not exhaust memory.
MAX_QUEUED_MESSAGES = 1_000_000
PLUGIN_GLOBS = [
    "/usr/lib/*/mosquitto_dynamic_security.so",  # Debian, Ubuntu (multiarch)
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/lib64/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
    "/opt/homebrew/lib/mosquitto_dynamic_security.so",
]


def _sbin_which(name: str) -> str | None:
    # mosquitto lives in /usr/sbin, which a user's PATH may leave out.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


def _plugin() -> str | None:
    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def tools() -> tuple[str, str, str] | None:
    """(mosquitto, mosquitto_ctrl, the dynamic-security plugin), installing Debian's
    mosquitto with apt-get when one is missing; None when they cannot be had."""
    found = (_sbin_which("mosquitto"), shutil.which("mosquitto_ctrl"), _plugin())
    if not all(found):
        try:
            localpg.apt_install(["mosquitto"], "MQTT devices need a Mosquitto broker")
        except subprocess.CalledProcessError:
            return None
        found = (_sbin_which("mosquitto"), shutil.which("mosquitto_ctrl"), _plugin())
    if not all(found):
        return None
    return found  # type: ignore[return-value]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class LocalBroker:
    """One Mosquitto whose files live in ``datadir``; ``persistent`` keeps its queued
    messages (and retained ones) across restarts, as ``make run`` wants."""

    datadir: Path
    persistent: bool = False
    port: int | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)
    admin_username: str = ADMIN_USERNAME

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def admin_password(self) -> str:
        return (self.datadir / "admin_password").read_text().strip()

    @property
    def env(self) -> dict[str, str]:
        """What BeeAPI's processes need to use this broker."""
        return {
            "MQTT_URL": self.url,
            "MQTT_ADMIN_USERNAME": self.admin_username,
            "MQTT_ADMIN_PASSWORD": self.admin_password,
        }

    def running_port(self) -> int | None:
        """The port of this directory's broker when one is up (``make run`` left it)."""
        try:
            port = int((self.datadir / "port").read_text())
        except (OSError, ValueError):
            return None
        return port if port_open(port) and (self.datadir / "admin_password").exists() else None

    def start(self, preferred_port: int | None = None) -> None:
        """Start the broker (initialising its dynamic-security file on first start)."""
        found = tools()
        if found is None:
            raise RuntimeError("mosquitto with the dynamic-security plugin is not available")
        mosquitto, ctrl, plugin = found
        self.datadir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.datadir, 0o700)
        dynsec = self.datadir / "dynamic-security.json"
        if not dynsec.exists():
            self._init_dynsec(ctrl, dynsec)
        self.port = localpg.free_port(preferred_port)
        conf = self.datadir / "mosquitto.conf"
        conf.write_text(self._config(plugin, dynsec))
        self.proc = subprocess.Popen(
            [mosquitto, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"Mosquitto did not start on 127.0.0.1:{self.port} "
                    f"(see {self.datadir / 'mosquitto.log'})"
                )
            time.sleep(0.05)
        (self.datadir / "port").write_text(str(self.port))

    def _init_dynsec(self, ctrl: str, dynsec: Path) -> None:
        password = secrets.token_urlsafe(32)
        secret = self.datadir / "admin_password"
        secret.touch(mode=0o600)
        secret.write_text(password + "\n")
        subprocess.run(
            [ctrl, "dynsec", "init", str(dynsec), self.admin_username, password],
            stdout=subprocess.DEVNULL,
            check=True,
        )

    def _config(self, plugin: str, dynsec: Path) -> str:
        lines = [
            "# Written by devtools/localmqtt.py at each start.",
            "per_listener_settings false",
            "allow_anonymous false",
            f"listener {self.port} 127.0.0.1",
            # Mosquitto started by root would switch to the `mosquitto` user, which cannot
            # write the dynamic-security file here: stay the user who owns the directory.
            f"user {getpass.getuser()}",
            f"plugin {plugin}",
            f"plugin_opt_config_file {dynsec}",
            # As deploy/mosquitto.conf: mqtt_ingest's session queues while it is down.
            f"max_queued_messages {MAX_QUEUED_MESSAGES}",
            f"persistence {'true' if self.persistent else 'false'}",
            f"persistence_location {self.datadir}/",
            f"log_dest file {self.datadir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "",
        ]
        return "\n".join(lines)

    def stop(self) -> None:
        """Terminate the broker this object started, and wait for it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.proc = None
            (self.datadir / "port").unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the broker (a crash: nothing saved, connections dropped unannounced)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        """Start the broker again on the same port, with the same files."""
        port = self.port
        self.stop()
        self.start(port)
        if self.port != port:
            raise RuntimeError(f"port {port} was taken while the broker was down")
