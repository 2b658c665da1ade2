"""A throwaway PostgreSQL server for the tests: Debian's binaries (`initdb`, `pg_ctl`,
`postgres` on the PATH, else /usr/lib/postgresql/*/bin), one server per test session (per
xdist worker), on a free port of 127.0.0.1, its data under /tmp, stopped and deleted at the
end. As root the server runs as the unprivileged ``postgres`` user (initdb refuses root).

Without the binaries (or psycopg) the tests that need it are left out and one test,
``test_a_postgres_server_is_available``, skips with one line saying how to get them (see
`deselect_without_postgres`); with ``FLUX_FLEX_REQUIRE_POSTGRES=1`` (CI) every one of them
fails instead.

    from tests.postgres import postgres_server   # a session fixture: PostgresServer
    url = server.new_schema()                    # a fresh schema: one test's own journal
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["REQUIRE_ENV", "PostgresServer", "find_binaries", "missing", "postgres_server"]

REQUIRE_ENV = "FLUX_FLEX_REQUIRE_POSTGRES"
HOW_TO_GET = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: "
    "apt-get install postgresql (Debian/Ubuntu) or put them on the PATH"
)


def find_binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None."""
    on_path = shutil.which("initdb")
    candidates = [os.path.dirname(os.path.realpath(on_path))] if on_path else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        names = ("initdb", "pg_ctl", "postgres")
        if all(os.access(os.path.join(folder, n), os.X_OK) for n in names):
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One server: ``url`` reaches its ``postgres`` database as the ``postgres`` user."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.root = Path(tempfile.mkdtemp(prefix="flux-flex-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            self._user = {"user": entry.pw_uid, "group": entry.pw_gid}
            os.chmod(self.root, 0o755)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.sockets.mkdir()
        if self._user:
            os.chown(self.sockets, self._user["user"], self._user["group"])

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            check=False,
            **self._user,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{log}")

    def init(self) -> None:
        self._run(
            str(self.binaries / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop the server (every connection is cut) and start it again on the same port."""
        self.stop("fast")
        self.start()

    def new_schema(self) -> str:
        """A URL whose journal lives in a schema of its own (one per test)."""
        import psycopg

        schema = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return f"{self.url}?options=-csearch_path%3D{schema}"

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def missing() -> str | None:
    """Why the PostgreSQL tests cannot run here (one line saying how to fix it), or None."""
    if find_binaries() is None:
        return HOW_TO_GET
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install 'flux-flex[postgres]'"
    return None


def _server() -> Iterator[PostgresServer]:
    why = missing()
    if why is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{why} ({REQUIRE_ENV}=1: PostgreSQL tests must run)")
        pytest.skip(why)
    binaries = find_binaries()
    assert binaries is not None
    server = PostgresServer(binaries)
    started = time.monotonic()
    try:
        server.init()
        server.start()
        server.started_in = time.monotonic() - started  # type: ignore[attr-defined]
        yield server
    finally:
        server.remove()


postgres_server = pytest.fixture(scope="session")(_server)


SENTINEL = "test_a_postgres_server_is_available"


def deselect_without_postgres(
    config: pytest.Config, items: list[pytest.Item], folder: Path
) -> None:
    """Without a server, leave out the tests under ``folder`` that need one (the
    sentinel's one skip line says why), unless ``FLUX_FLEX_REQUIRE_POSTGRES=1``."""
    if os.environ.get(REQUIRE_ENV) == "1" or missing() is None:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        uses = set(getattr(item, "fixturenames", ())) & {"postgres_server", "pg"}
        wants = uses or (callspec is not None and callspec.params.get("store") == "postgres")
        inside = folder in Path(str(item.path)).parents
        (dropped if inside and wants and item.name != SENTINEL else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
