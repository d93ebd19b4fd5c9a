"""Every benchmark target, in one place (bench/run.py reads them; no unit test is timed).

HTTP mode (`make bench`): each page's requests per second as a share of a reference measured in
the same run on the same machine and database (the targets of this file). Intake: payloads per second
as a share of a psycopg loop inserting one row per transaction.
"""

# page name: (reference it is compared with, minimum ratio)
HTTP_TARGETS = {
    "status page": ("hello", 0.5),
    "status incident page": ("hello", 0.5),
    "status feed": ("hello", 0.5),
    "dashboard": ("rows", 0.5),
    "incident list": ("rows", 0.5),
    "list, filtered": ("rows", 0.5),
    "list, searched": ("rows", 0.25),
    "incident page (200+ entries)": ("rows", 0.5),
}

INTAKE_TARGETS = {
    "intake, new group each payload": 0.05,
    "intake, new alerts into one group": 0.1,
}

# Fan-out: posting a public update on an incident with FANOUT_SUBSCRIBERS email followers.
FANOUT_SUBSCRIBERS = 200
FANOUT_P95_MS = 100
# Delivery: one worker sends the FANOUT_SUBSCRIBERS emails to a local SMTP server within this.
DELIVERY_SECONDS = 10

# Client mode (`make bench BENCH_MODE=client`): milliseconds at the 95th percentile through
# Django's test client in one process (2-core development machine).
CLIENT_TARGETS_MS = {
    "dashboard": 150,
    "dashboard fragment": 150,
    "list": 200,
    "list, filtered": 200,
    "list, search": 600,
    "incident page": 150,
    "status page": 150,
    "api list": 200,
}
