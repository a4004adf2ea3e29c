"""``python manage.py serve``: several daphne processes on one address.

daphne runs one process with one event loop, so one process uses one core. This command
binds the listening socket once and starts ``--processes`` daphne processes
(``WEB_CONCURRENCY``, default: the number of cores) that all accept on it (``daphne
--fd``): the kernel hands each new connection to one of them, HTTP and WebSocket alike.
Live streams cross processes through Redis (``REDIS_URL``); without it each process has
its own in-memory channel layer, so this runs one process and says why.

A process that exits is started again (at most once per second); SIGINT/SIGTERM stop all
of them. Extra daphne options go after ``--``, e.g. ``-- --proxy-headers``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def default_processes() -> int:
    raw = os.environ.get("WEB_CONCURRENCY", "")
    if raw.strip():
        try:
            return int(raw)
        except ValueError:
            raise CommandError(f"WEB_CONCURRENCY must be a number, not {raw!r}") from None
    return os.cpu_count() or 1


class Command(BaseCommand):
    help = "Serve HTTP and WebSocket from several daphne processes sharing one socket."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help="daphne processes (default WEB_CONCURRENCY, else the number of cores)",
        )
        parser.add_argument("daphne_args", nargs="*", help="passed to every daphne process")

    def handle(self, *args: Any, **options: Any) -> None:
        processes = options["processes"] or default_processes()
        if processes < 1:
            raise CommandError("--processes must be at least 1.")
        if processes > 1 and not settings.REDIS_URL:
            self.stderr.write(
                f"serve: {processes} processes need REDIS_URL so live streams reach sockets"
                " on every process; serving from 1 process"
            )
            processes = 1
        family = socket.AF_INET6 if ":" in options["host"] else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((options["host"], options["port"]))
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from None
        listener.listen(1024)
        listener.set_inheritable(True)
        command = [
            sys.executable,
            "-m",
            "daphne",
            "--fd",
            str(listener.fileno()),
            *options["daphne_args"],
            "beeapi.asgi:application",
        ]
        self.stdout.write(
            f"serve: {processes} daphne process(es) on {options['host']}:{options['port']}",
        )
        self.stdout.flush()
        stopping: list[int] = []

        def stop(signum: int, frame: Any) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        def start() -> subprocess.Popen:
            return subprocess.Popen(command, pass_fds=(listener.fileno(),))

        children = [start() for _ in range(processes)]
        try:
            while not stopping:
                time.sleep(1)
                for index, child in enumerate(children):
                    if child.poll() is not None and not stopping:
                        self.stderr.write(
                            f"serve: daphne {child.pid} exited ({child.returncode}); restarting"
                        )
                        children[index] = start()
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            listener.close()
