"""A throwaway PostgreSQL server for a test session, and a fresh database per test.

The server is Debian's ``postgresql`` package (``make install`` installs it): ``initdb``
into a temporary directory, then ``postgres`` listening only on 127.0.0.1 on a free
port, with its Unix socket in that directory, trust authentication and no fsync (the
data is thrown away). PostgreSQL refuses to run as root, so as root the server runs as
the ``postgres`` system user the package creates. ``setpriv --pdeathsig`` (util-linux)
has the kernel shut the server down (SIGINT: fast shutdown) if the test process dies
without stopping it.

``JOEY_TEST_POSTGRES=0`` skips the PostgreSQL tests; otherwise a missing server fails
them, saying how to install it.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from support.waiting import free_port

__all__ = [
    "PostgresUnavailableError",
    "fresh_database",
    "postgres_disabled",
    "postgres_server",
]

SWITCH = "JOEY_TEST_POSTGRES"
"""Set to ``0`` to skip the PostgreSQL tests instead of failing them without a server."""
SUPERUSER = "joey"
"""The superuser ``initdb`` creates (trust authentication, loopback only)."""
DATABASE = "joey"
"""The database the session's URL names; tests get their own (``fresh_database``)."""
SYSTEM_USER = "postgres"
"""Who runs the server when the tests run as root (created by Debian's package)."""

_HINT = (
    "Run `make install` (it installs Debian's `postgresql` package; if the virtualenv is "
    "already installed: `apt-get install --no-install-recommends postgresql`), "
    f"or set {SWITCH}=0 to skip the PostgreSQL tests."
)
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # The data is thrown away: durability only costs time.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "200",
    "log_min_messages": "warning",
}
_names = itertools.count()


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL's server (or the psycopg driver) is not installed, or cannot run here."""


def postgres_disabled() -> bool:
    """Whether ``JOEY_TEST_POSTGRES=0`` asks to skip the PostgreSQL tests."""
    return os.environ.get(SWITCH, "").strip().lower() in {"0", "false", "no", "off"}


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: ``pg_config --bindir``, the
    newest ``/usr/lib/postgresql/*/bin`` (Debian keeps them off PATH), else PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(found.stdout.strip()))
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(d) for d in sorted(debian, key=_major_version, reverse=True)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return bindir
    return None


def _major_version(bindir: str) -> int:
    version = Path(bindir).parent.name
    return int(version) if version.isdigit() else 0


@dataclass(frozen=True)
class _RunAs:
    """How to start PostgreSQL's programs: as ourselves, or as root as ``postgres``."""

    prefix: tuple[str, ...]
    uid: int
    gid: int

    @classmethod
    def here(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls(prefix=(), uid=os.geteuid(), gid=os.getegid())
        try:
            user = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresUnavailableError(
                f"the tests run as root and PostgreSQL refuses to; there is no {SYSTEM_USER!r} "
                f"user to run it as (Debian's postgresql package creates it). {_HINT}"
            ) from None
        setpriv = shutil.which("setpriv")
        runuser = shutil.which("runuser")
        if setpriv:
            prefix: tuple[str, ...] = (
                setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
            )
        elif runuser:
            prefix = (runuser, "-u", SYSTEM_USER, "--")
        else:
            raise PostgresUnavailableError(
                "the tests run as root and PostgreSQL refuses to; neither setpriv nor runuser "
                f"(util-linux) is there to run it as {SYSTEM_USER!r}"
            )
        return cls(prefix=prefix, uid=user.pw_uid, gid=user.pw_gid)

    def command(self, *argv: str | Path, die_with_parent: bool = False) -> list[str]:
        """``argv`` run as the server's user; ``die_with_parent`` adds a parent-death
        SIGINT (fast shutdown) where setpriv can set one."""
        prefix = list(self.prefix)
        setpriv = shutil.which("setpriv")
        if die_with_parent and setpriv:
            # setpriv sets the parent-death signal after changing user (a credential
            # change would clear it), so it holds for the exec'd server.
            prefix = [*prefix, "--pdeathsig=INT"] if prefix and prefix[0] == setpriv else [
                setpriv, "--pdeathsig=INT", *prefix
            ]
        return [*prefix, *(str(a) for a in argv)]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throwaway server; yield the SQLAlchemy URL of its database ``joey``.

    Raises ``PostgresUnavailableError`` when PostgreSQL or psycopg is not installed.
    """
    try:
        import psycopg  # noqa: F401 - the driver the URLs name
    except ImportError:
        raise PostgresUnavailableError(f"the psycopg driver is not installed. {_HINT}") from None
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailableError(
            "PostgreSQL's server (initdb, postgres) is not installed: not found by "
            f"`pg_config --bindir`, in /usr/lib/postgresql/*/bin or on PATH. {_HINT}"
        )
    run_as = _RunAs.here()
    base = Path(tempfile.mkdtemp(prefix="joey-pg-"))
    try:
        os.chown(base, run_as.uid, run_as.gid)
        data = base / "data"
        _initdb(run_as, bindir, base, data)
        with _running(run_as, bindir, base, data) as port:
            admin = _url(port, "postgres")
            _execute(admin, "CREATE DATABASE {}", DATABASE)
            yield _url(port, DATABASE)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url``, dropped afterwards
    (with any connections a test left open)."""
    name = f"test_{next(_names)}_{uuid.uuid4().hex[:8]}"
    _execute(server_url, "CREATE DATABASE {}", name)
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _execute(server_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def _url(port: int, database: str) -> str:
    return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{database}"


def _execute(url: str, template: str, database: str) -> None:
    """Run ``template`` on ``database``, quoted, outside a transaction (as CREATE and
    DROP DATABASE must)."""
    import psycopg
    from psycopg import sql

    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database,
        autocommit=True, connect_timeout=10,
    ) as connection:
        connection.execute(sql.SQL(template).format(sql.Identifier(database)))


def _initdb(run_as: _RunAs, bindir: Path, base: Path, data: Path) -> None:
    argv = run_as.command(
        bindir / "initdb", "--pgdata", data, "--username", SUPERUSER, "--auth", "trust",
        "--encoding", "UTF8", "--locale", "C", "--no-sync",
    )
    done = subprocess.run(
        argv, cwd=base, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"initdb failed (exit {done.returncode}): {' '.join(argv)}\n{done.stdout}{done.stderr}"
        )


@contextlib.contextmanager
def _running(run_as: _RunAs, bindir: Path, base: Path, data: Path) -> Iterator[int]:
    """The server running on a free loopback port (tried again if another process takes
    the port first); stopped with a fast shutdown at the end."""
    log_path = base / "postgres.log"
    for attempt in range(3):
        port = free_port()
        settings = {**_SETTINGS, "port": str(port), "unix_socket_directories": str(base)}
        argv = run_as.command(
            bindir / "postgres", "-D", data,
            *itertools.chain.from_iterable(("-c", f"{k}={v}") for k, v in settings.items()),
            die_with_parent=True,
        )
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                argv, cwd=base, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            if _wait_ready(process, port):
                yield port
                return
        finally:
            _stop(process)
        tail = _tail(log_path)
        if "could not bind" not in tail or attempt == 2:
            raise RuntimeError(
                f"PostgreSQL did not start (exit {process.returncode}): {' '.join(argv)}\n{tail}"
            )


def _wait_ready(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether the server answers on ``port`` before it exits or the timeout passes."""
    import psycopg

    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", connect_timeout=2
            ):
                return True
        except psycopg.OperationalError:
            time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # fast shutdown: end sessions, checkpoint, exit
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=_STOP_TIMEOUT_S)


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""
