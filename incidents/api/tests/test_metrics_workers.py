"""/metrics under several gunicorn workers: the image and compose share their counters through
PROMETHEUS_MULTIPROC_DIR, and deploy/gunicorn.conf.py warns at start-up when it is missing."""

import os
import re
import selectors
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
WARNING = "PROMETHEUS_MULTIPROC_DIR is not set"


@contextmanager
def gunicorn(workers: int, multiproc_dir: str | None, database: Path):
    """gunicorn with deploy/gunicorn.conf.py on a free loopback port, until its first worker has
    booted: yields (its log so far, its base URL); then it is stopped."""
    env = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY")}
    env["DATABASE_URL"] = f"sqlite:///{database}"
    if multiproc_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    command = [GUNICORN, "-c", "deploy/gunicorn.conf.py", "incidentsite.wsgi:application"]
    command += ["--bind", "127.0.0.1:0", "--workers", str(workers)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    log = ""
    try:
        selector = selectors.DefaultSelector()
        selector.register(process.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while "Booting worker" not in log and time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=1):
                log += process.stderr.readline().decode()
        assert "Booting worker" in log, log
        yield log, re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log).group(1)
    finally:
        process.terminate()
        process.wait(20)


def start_up_log(workers: int, multiproc_dir: str | None, database: Path) -> str:
    with gunicorn(workers, multiproc_dir, database) as (log, _):
        return log


def test_several_workers_without_the_directory_warn_at_start_up(tmp_path):
    log = start_up_log(2, None, tmp_path / "db.sqlite3")
    assert "[WARNING] 2 workers but PROMETHEUS_MULTIPROC_DIR is not set" in log


def test_no_warning_with_the_directory_or_with_one_worker(tmp_path):
    database = tmp_path / "db.sqlite3"
    assert WARNING not in start_up_log(2, str(tmp_path), database)
    assert WARNING not in start_up_log(1, None, database)


def test_head_through_gunicorn_answers_like_get_without_a_body(tmp_path):
    """As a load balancer probes: a real server, a real HEAD (Django's test client drops bodies itself)."""
    with gunicorn(1, None, tmp_path / "db.sqlite3") as (_, url):
        for path in ["/healthz", "/metrics"]:
            get = urllib.request.urlopen(url + path, timeout=10)
            head = urllib.request.urlopen(urllib.request.Request(url + path, method="HEAD"), timeout=10)
            assert get.status == head.status == 200, path
            assert head.headers["Content-Type"] == get.headers["Content-Type"], path
            assert get.read() and head.read() == b"", path


@pytest.mark.parametrize("path", ["Dockerfile", "docker-compose.yml"])
def test_the_image_and_compose_run_gunicorn_with_a_fresh_shared_directory(path):
    text = (ROOT / path).read_text()
    command = text.split("CMD ", 1)[1] if path == "Dockerfile" else text.split("\n  web:\n", 1)[1].split("\n\n")[0]
    command = " ".join(command.split())
    assert "rm -rf /tmp/beacon-metrics && mkdir -p /tmp/beacon-metrics" in command
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/beacon-metrics exec gunicorn -c deploy/gunicorn.conf.py" in command
