"""deploy/: the Prometheus and Alertmanager files of the docker-compose "monitoring" profile are
valid for the real tools and point at what Beacon serves."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = [pytest.mark.alertmanager]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def tool(name: str, binaries) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} ships with the Debian package that provides {binaries}, but is missing")
    return found


def test_prometheus_config_and_rules_pass_promtool(binaries):
    promtool = tool("promtool", binaries["prometheus"])
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "rules.yml"]):
        result = subprocess.run([promtool, *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_passes_amtool(binaries, tmp_path):
    amtool = tool("amtool", binaries["alertmanager"])
    token = tmp_path / "beacon-token"
    token.write_text("token\n")
    config = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    config = config.replace("/etc/alertmanager/beacon-token", str(token))
    checked = tmp_path / "alertmanager.yml"
    checked.write_text(config)
    result = subprocess.run([amtool, "check-config", str(checked)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_posts_to_beacons_receiver_with_a_bearer_token_file():
    config = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    assert re.search(rf"url: http://web:8000{reverse('alertmanager_webhook')}\n", config)
    assert "send_resolved: true" in config
    assert "credentials_file: /etc/alertmanager/beacon-token" in config


def _block(text: str, start: str) -> str:
    """The YAML list item that begins with `start`, up to the next item at the same indent."""
    at = text.index(start)
    indent = text.rfind("\n", 0, at)
    prefix = text[indent + 1 : at]
    end = text.find("\n" + prefix + "- ", at)
    return text[at : end if end != -1 else None]


def test_the_watchdog_rule_is_the_heartbeat_and_opens_no_incident():
    rules = (DEPLOY / "prometheus" / "rules.yml").read_text()
    watchdog = _block(rules, f"alert: {settings.ALERTMANAGER_HEARTBEAT_ALERTNAME}")
    assert "severity: none" in watchdog
    assert "severity: critical" in _block(rules, "alert: TargetDown")
    config = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    route = _block(config, "receiver: beacon\n      matchers:")
    assert 'alertname = "Watchdog"' in route
    # Re-sent more often than Beacon's default window, or every quiet hour would look like silence.
    minutes = int(re.search(r"repeat_interval: (\d+)m", route).group(1))
    assert minutes < settings.ALERTMANAGER_HEARTBEAT_WINDOW_MINUTES
