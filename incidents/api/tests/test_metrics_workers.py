"""/metrics under several gunicorn workers: the image and compose share their counters through
PROMETHEUS_MULTIPROC_DIR, and deploy/gunicorn.conf.py warns at start-up when it is missing."""

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
WARNING = "PROMETHEUS_MULTIPROC_DIR is not set"


def start_up_log(workers: int, multiproc_dir: str | None) -> str:
    """gunicorn's log from its start until its first worker boots; then it is stopped."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.pop("WEB_CONCURRENCY", None)
    if multiproc_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    command = [
        GUNICORN,
        "-c",
        "deploy/gunicorn.conf.py",
        "incidentsite.wsgi:application",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    log = ""
    try:
        selector = selectors.DefaultSelector()
        selector.register(process.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while "Booting worker" not in log and time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=1):
                log += process.stderr.readline().decode()
    finally:
        process.terminate()
        process.wait(20)
    assert "Booting worker" in log, log
    return log


def test_several_workers_without_the_directory_warn_at_start_up():
    log = start_up_log(2, None)
    assert "[WARNING] 2 workers but PROMETHEUS_MULTIPROC_DIR is not set" in log


def test_no_warning_with_the_directory_or_with_one_worker(tmp_path):
    assert WARNING not in start_up_log(2, str(tmp_path))
    assert WARNING not in start_up_log(1, None)


@pytest.mark.parametrize("path", ["Dockerfile", "docker-compose.yml"])
def test_the_image_and_compose_run_gunicorn_with_a_fresh_shared_directory(path):
    text = (ROOT / path).read_text()
    command = text.split("CMD ", 1)[1] if path == "Dockerfile" else text.split("\n  web:\n", 1)[1].split("\n\n")[0]
    command = " ".join(command.split())
    assert "rm -rf /tmp/beacon-metrics && mkdir -p /tmp/beacon-metrics" in command
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/beacon-metrics exec gunicorn -c deploy/gunicorn.conf.py" in command
