"""Lighthouse accessibility and best-practices scores of Beacon's main pages, per role.

Needs a running Beacon with the demo data (`make run`), Node.js with Lighthouse
(`npm install --no-save lighthouse@12`, or on PATH) and Debian's Chromium. Everything stays on
loopback: Lighthouse drives the local Chromium against the local server.

    python bench/lighthouse.py [--base http://127.0.0.1:8000] [--out docs/lighthouse.md]

Signs in as each demo user with Playwright, hands the session cookie to Lighthouse, and
writes a Markdown table (docs/accessibility.md quotes it).
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "beacon-demo"

# (role, path). {ref}: the most severe open incident; {review}: an incident with a review.
PAGES = [
    ("anonymous", "/accounts/login/"),
    ("anonymous", "/status/"),
    ("responder", "/"),
    ("responder", "/incidents/"),
    ("responder", "/incidents/new/"),
    ("responder", "/incidents/{ref}/"),
    ("responder", "/reviews/"),
    ("responder", "/reviews/{review}/"),
    ("responder", "/oncall/"),
    ("responder", "/accounts/profile/"),
    ("manager", "/incidents/{ref}/"),
    ("manager", "/oncall/rotations/new/"),
    ("viewer", "/"),
    ("reporter", "/incidents/new/"),
]


def session_cookie(base: str, username: str) -> tuple[str, dict]:
    """Sign in through the form; returns the Cookie header and the refs the dashboard shows."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        page = browser.new_page(base_url=base)
        page.goto("/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        refs = {"ref": page.locator("tr[data-ref]").first.get_attribute("data-ref")}
        page.goto("/reviews/")
        link = page.locator("a[href^='/reviews/INC-']").first.get_attribute("href")
        refs["review"] = re.sub(r"^/reviews/([^/]+)/.*$", r"\1", link)
        cookies = page.context.cookies()
        browser.close()
    return "; ".join(f"{c['name']}={c['value']}" for c in cookies), refs


def lighthouse(url: str, cookie: str | None, lighthouse_bin: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        command = [
            *lighthouse_bin,
            url,
            f"--chrome-path={CHROMIUM}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage",
            "--only-categories=accessibility,best-practices",
            "--output=json",
            f"--output-path={out}",
            "--quiet",
        ]
        if cookie:
            command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
        subprocess.run(command, check=True, timeout=180)
        report = json.loads(out.read_text())
    failed = [
        audit_id
        for audit_id, audit in report["audits"].items()
        if audit.get("score") is not None and audit["score"] < 1 and audit.get("scoreDisplayMode") == "binary"
    ]
    return {
        "accessibility": round(report["categories"]["accessibility"]["score"] * 100),
        "best-practices": round(report["categories"]["best-practices"]["score"] * 100),
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="")
    parser.add_argument("--lighthouse", default="npx --no-install lighthouse")
    args = parser.parse_args()
    lighthouse_bin = args.lighthouse.split()
    base = args.base.rstrip("/")

    sessions: dict[str, tuple[str | None, dict]] = {"anonymous": (None, {})}
    refs: dict = {}
    rows = []
    for role, template in PAGES:
        if role not in sessions:
            sessions[role] = session_cookie(base, role)
            refs = refs or sessions[role][1]
        cookie = sessions[role][0]
        path = template.format(**refs)
        scores = lighthouse(base + path, cookie, lighthouse_bin)
        rows.append((role, path, scores))
        print(
            f"{role:10} {path:32} a11y {scores['accessibility']:3}  best practices {scores['best-practices']:3}  "
            f"{' '.join(scores['failed'])}",
            file=sys.stderr,
        )

    lines = [
        "| Role | Page | Accessibility | Best practices | Audits not passed |",
        "| --- | --- | --- | --- | --- |",
    ]
    for role, path, scores in rows:
        failed = ", ".join(f"`{a}`" for a in scores["failed"]) or "none"
        lines.append(f"| {role} | `{path}` | {scores['accessibility']} | {scores['best-practices']} | {failed} |")
    table = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(table)
    print(table)


if __name__ == "__main__":
    main()
