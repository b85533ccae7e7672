"""A throwaway PostgreSQL server for the records tests: initdb in a temporary folder, started on a free
loopback port (and a Unix socket in that folder), stopped and deleted at the end.

PostgreSQL refuses to run as root (CI runs as root): then the server runs as the `postgres` user
(Debian's package creates it) through `runuser`, in a folder that user owns. Without server binaries
(`initdb`, `pg_ctl` on PATH or under /usr/lib/postgresql/*/bin) `find_binaries` returns None and the
tests that need a server are skipped with that reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SKIP_REASON = (
    "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin: "
    "install postgresql to run the PostgreSQL records tests"
)


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest version under /usr/lib/postgresql first)."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0))
    for d in [*reversed(versions), *(str(Path(w).parent) for w in [shutil.which("pg_ctl")] if w)]:
        if (Path(d) / "initdb").is_file() and (Path(d) / "pg_ctl").is_file():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One cluster; `url` is a SQLAlchemy/libpq URL of its `postgres` database as superuser `aoi`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="aoi-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:  # postgres will not run as root
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root and there is no 'postgres' user to run the server"
                ) from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql://aoi@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        out = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=60, cwd=self.root)
        if out.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {out.stderr.strip()[-2000:]}\n{tail}")

    def start(self) -> PostgresServer:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "aoi", "-E", "UTF8",
                  "--no-sync", "--locale=C")  # fmt: skip
        self.resume()
        return self

    def pause(self) -> None:
        """Stop the server (a plant database going away); `resume` starts it again, data kept."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        # durability settings off: the tests kill clients, never this server
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")  # fmt: skip
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "30", "-o", opts, "start")  # fmt: skip

    def reset(self) -> None:
        """An empty `public` schema: each test starts on a database without tables."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=aoi dbname=postgres", autocommit=True
        ) as c:
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = 'postgres' AND pid <> pg_backend_pid()")  # fmt: skip
            c.execute("DROP SCHEMA IF EXISTS public CASCADE")
            c.execute("CREATE SCHEMA public")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
