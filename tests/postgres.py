"""A real PostgreSQL server on loopback for the tests that need one.

`TEST_DATABASE_URL` (postgresql://…) names a server to use, which must accept CREATE DATABASE;
otherwise a throwaway one is started with the machine's own PostgreSQL binaries (initdb, pg_ctl:
Debian's package `postgresql`), in a temporary folder, listening on 127.0.0.1 only, and stopped at
the end. As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
Where there is neither, the tests that need it are skipped, except under CI (`CI` set), where
that is a failure: CI installs PostgreSQL.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    """The folder of initdb and pg_ctl: on the PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """The address of a PostgreSQL server (its `postgres` database), for as long as the block lasts."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    binaries = _binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: CI must install it (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql, or set TEST_DATABASE_URL)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="safetybot-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data, port = folder / "data", _free_port()
    try:
        subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-sync", "--no-instructions"], check=True, capture_output=True)  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                        str(folder / "log"), "-w", "-t", "60", "start"], check=True, capture_output=True)  # fmt: skip
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           check=False, capture_output=True)  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
