"""A throwaway PostgreSQL server on a free loopback port (Debian's `postgresql` package; .ci/setup.d
installs it), for the database tests. As root, initdb and postgres run as the `postgres` user."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

from tests.fakes.server import free_port

USER = "llm"


def binaries() -> str | None:
    """The directory with initdb and postgres, or None."""
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(os.path.realpath(found))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(versions[-1]) if versions else None


class PostgresServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="llm-link-pg-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.databases = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, cmd: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return cmd
        return ["runuser", "-u", "postgres", "--", *cmd]

    def start(self, timeout: float = 30) -> PostgresServer:
        bindir = binaries()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql; .ci/setup.d does it)")
        data = os.path.join(self.dir, "data")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            self._as_owner([f"{bindir}/initdb", "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self.launch(timeout)

    def launch(self, timeout: float = 30) -> PostgresServer:
        """Start the server on the existing cluster (again, after `halt`)."""
        bindir = binaries()
        data = os.path.join(self.dir, "data")
        self.proc = subprocess.Popen(
            self._as_owner(
                [
                    f"{bindir}/postgres",
                    "-D",
                    data,
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    self.dir,
                    "-F",  # no fsync: a test database
                    "-c",
                    "max_connections=200",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited at start-up")
            if self.sql("SELECT 1", check=False).returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres did not start on port {self.port}")

    def sql(self, statement: str, database: str = "postgres", check: bool = True) -> subprocess.CompletedProcess[str]:
        bindir = binaries()
        return subprocess.run(
            [f"{bindir}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", database, "-Atc", statement],
            capture_output=True,
            text=True,
            check=check,
        )

    def new_database(self) -> str:
        """A fresh, empty database on this server: its URL."""
        self.databases += 1
        name = f"t{self.databases}_{os.getpid()}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server, keeping its data (`launch` starts it again)."""
        if self.proc is not None and self.proc.poll() is None:
            # "Fast" shutdown (no waiting for clients), sent to the postmaster itself: runuser, when it is
            # in between, does not pass SIGINT on.
            try:
                with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
                    os.kill(int(f.readline()), signal.SIGINT)
            except (OSError, ValueError):
                self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
