"""Real servers and Beacon processes for the scaling tests: a private Redis, a PgBouncer in
transaction mode, and `manage.py`/gunicorn processes pointed at the test database.

Every server here is started on a port the system picks and stopped by PID; the Redis of the
machine (6379) is never touched.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from incidents.tests.standins import wait_for_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(host: str | None = None, port: int | None = None) -> str:
    """The test database (pytest-django's, not DATABASE_URL's), as a URL for child processes."""
    db = connection.settings_dict
    host = host or db["HOST"] or "127.0.0.1"
    port = port or db["PORT"] or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


def beacon_env(**extra: str) -> dict[str, str]:
    """A production-like environment for a child process on the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "METRICS_PUBLIC": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


def settings_of(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` after django.setup() with the environment given (production-like otherwise)."""
    environment = beacon_env(**env)
    for name in {"REDIS_URL", "RQ_URL", "TASKS_BACKEND"} - set(env):
        environment.pop(name, None)  # the machine's own, if any
    return subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; " + code],
        cwd=settings.BASE_DIR,
        env={**environment, "DJANGO_SETTINGS_MODULE": "incidentsite.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A child in its own process group, so that a kill reaches the processes it forks too
    (gunicorn's workers, an RQ worker's work horse)."""
    with open(log, "ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own programs
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def manage(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    return start([sys.executable, "manage.py", *args], env, log)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    else:
        try:  # the leader is gone; its children may not be
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc (an RQ work horse leaves its parent's group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_machine(process: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started, as a lost container or host would end them."""
    doomed = descendants(process.pid)
    stop(process, signal.SIGKILL)
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_until(condition, *, timeout: float = 30.0, every: float = 0.1, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise TimeoutError(f"{what} not met within {timeout} s")


class RedisServer:
    """A private redis-server: no persistence, loopback only."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


class PgBouncer:
    """PgBouncer in transaction mode in front of the test database, with a small server pool so
    that clients really share server connections."""

    def __init__(self, pool_size: int = 3):
        self.port = free_port()
        # PgBouncer refuses to run as root: as root it drops to the postgres user, who must read
        # its files, and pytest's tmp_path is private to root.
        self.workdir = Path(tempfile.mkdtemp(prefix="beacon-pgbouncer-"))
        self.pool_size = pool_size
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return database_url(host="127.0.0.1", port=self.port)

    def start(self) -> "PgBouncer":
        db = connection.settings_dict
        self.workdir.chmod(0o755)
        ini = self.workdir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{db['NAME']} = host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} dbname={db['NAME']}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.workdir / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\nmax_client_conn = 200\n"
        )
        (self.workdir / "users.txt").write_text(f'"{db["USER"]}" ""\n')
        for path in (ini, self.workdir / "users.txt"):
            path.chmod(0o644)
        command = [PGBOUNCER, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(ini)]
        with open(self.workdir / "pgbouncer.log", "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)
