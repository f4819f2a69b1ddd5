"""Fixtures of the integration tests.

`postgres_url`: a throwaway PostgreSQL database, one per module that asks for it, on a
cluster started once per test process from the server binaries of this machine (skipped,
saying why, where there are none);
`pg_repo`: the app's schema on it, through the app's own init_db.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from db.database import close_db, init_db
from db.messages import MessageRepository


def _server_bin() -> Path | None:
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))  # newest version last
    found = debian[-1] if debian else shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class _Cluster:
    root: Path
    port: int
    bindir: Path
    as_user: tuple[str, ...]


# One cluster per test process (each xdist worker runs its own), started on first use:
# initdb costs seconds (7-10 s on a loaded 2-core machine), a database a fraction of one.
_cluster: _Cluster | None = None
_cluster_error: str | None = None
_databases = itertools.count(1)


def _start_cluster() -> _Cluster:
    global _cluster, _cluster_error
    if _cluster is not None:
        return _cluster
    if _cluster_error is not None:
        pytest.skip(_cluster_error)
    bindir = _server_bin()
    if bindir is None or not (bindir / "pg_ctl").exists():
        _cluster_error = "no PostgreSQL server binaries on this machine"
        pytest.skip(_cluster_error)
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="tgp-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            _cluster_error = "running as root without runuser"
            pytest.skip(_cluster_error)
        try:
            shutil.chown(root, user="postgres")
        except (LookupError, OSError):
            _cluster_error = "running as root and there is no postgres user"
            pytest.skip(_cluster_error)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    try:
        subprocess.run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-N",
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        # Throwaway data: no fsync (the tests never survive a power cut).
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [
                *as_user,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(root / "log"),
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        _cluster_error = f"could not start a PostgreSQL server: {exc}"
        pytest.skip(_cluster_error)
    _cluster = _Cluster(root, port, bindir, tuple(as_user))
    atexit.register(_stop_cluster, _cluster)
    return _cluster


def _stop_cluster(cluster: _Cluster) -> None:
    subprocess.run(
        [
            *cluster.as_user,
            str(cluster.bindir / "pg_ctl"),
            "-D",
            str(cluster.root / "data"),
            "-m",
            "immediate",
            "stop",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A database of its own for the module (the same as a fresh cluster to the app),
    on the test process's one cluster; the URL connects as the superuser `postgres`."""
    pytest.importorskip("asyncpg")
    cluster = _start_cluster()
    name = f"tgp_{os.getpid()}_{next(_databases)}"
    psql = [
        *cluster.as_user,
        str(cluster.bindir / "psql"),
        "-h",
        str(cluster.root),
        "-p",
        str(cluster.port),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-q",
        "-c",
    ]
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=60)
    try:
        yield f"postgres://postgres@127.0.0.1:{cluster.port}/{name}"
    finally:
        # Whatever the module left connected (a process it started) goes with it.
        subprocess.run(
            [*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            capture_output=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
async def pg_repo(postgres_url: str) -> AsyncIterator[MessageRepository]:
    await init_db(postgres_url)
    try:
        yield MessageRepository()
    finally:
        await close_db()
