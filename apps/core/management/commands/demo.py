"""``manage.py demo``: the whole platform on one machine, in one terminal.

Migrates, seeds the demo, then runs the web server (gunicorn) and a real Celery
worker on the embedded broker until Ctrl-C, when it stops both and waits for
them, so that nothing is left running.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.core.demo import demo_seed, demo_study_prepare


class Command(BaseCommand):
    help = "Set up the demo study and run web + worker until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", action="store_true", help="set up only, do not run")

    def handle(self, *args, host: str, port: int, no_serve: bool, **options):
        self.stdout.write("Preparing the database…")
        call_command("migrate", interactive=False, verbosity=0)
        credentials = demo_seed()
        if no_serve:
            self._print_welcome(host, port, credentials)
            return
        children = self._start(host, port)
        try:
            credentials += demo_study_prepare(say=self.stdout.write)
        except BaseException:
            self._stop(children, already_signalled=False)
            raise
        self._print_welcome(host, port, credentials)
        self._supervise(children)

    def _start(self, host: str, port: int) -> list[subprocess.Popen]:
        python = sys.executable
        base = str(settings.BASE_DIR)
        web = subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "evalsite.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--graceful-timeout",
                "5",
            ],
            cwd=base,
        )
        worker = subprocess.Popen(
            [
                python,
                "-m",
                "celery",
                "-A",
                "evalsite",
                "worker",
                "--loglevel",
                "warning",
                "--concurrency",
                "2",
                "--without-mingle",
                "--without-gossip",
                "--beat",  # the periodic recovery of lost generation tasks
            ],
            cwd=base,
        )
        return [web, worker]

    def _print_welcome(self, host: str, port: int, credentials) -> None:
        shown = "localhost" if host in {"0.0.0.0", "127.0.0.1"} else host  # noqa: S104
        lines = ["", "evalsite is running. 演示站点已启动。", f"  Open http://{shown}:{port}/", ""]
        lines += [
            f"  {c.role:<10} user: {c.username:<12} password: {c.password}" for c in credentials
        ]
        lines += ["", "  Press Ctrl-C to stop. 按 Ctrl-C 停止。", ""]
        self.stdout.write("\n".join(lines))

    def _supervise(self, children: list[subprocess.Popen]) -> None:
        received: list[int] = []
        signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
        signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
        while not received and all(child.poll() is None for child in children):
            time.sleep(0.2)
        if not received:
            self.stderr.write("A demo process ended unexpectedly; stopping the others.")
        self._stop(children, already_signalled=bool(received) and received[0] == signal.SIGINT)
        if not received:
            raise CommandError("a demo process ended unexpectedly; see its messages above")

    def _stop(self, children: list[subprocess.Popen], *, already_signalled: bool) -> None:
        self.stdout.write("Stopping… 正在停止…")
        if already_signalled:
            # Ctrl-C in a terminal reaches the whole process group: the children got it
            # too and are shutting down; a second signal would make them cut corners.
            _wait_all(children, timeout=10)
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
        if not _wait_all(children, timeout=20):
            for child in children:
                if child.poll() is None:
                    child.kill()
            _wait_all(children, timeout=10)
        self.stdout.write("Stopped. 已停止。")


def _wait_all(children: list[subprocess.Popen], *, timeout: float) -> bool:
    """Wait until every child has exited or ``timeout`` passed; True if all exited."""
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(timeout=max(0.01, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
    return True
