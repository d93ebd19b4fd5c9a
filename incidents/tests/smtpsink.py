"""A test SMTP server that can be told to fail (refuse, drop, answer 4xx or 5xx): run as a process.

    python smtpsink.py PORT MODEFILE OUT.jsonl
    modes: ok | 451 | 554 | 550:<rcpt> | slow:<s> | hold:<flagfile>
    (hold: appends each held message's recipients to <flagfile>.waiting, one per line, and answers
    DATA only once <flagfile> exists)
    (451 and 554 answer DATA; 550:<rcpt> refuses that one recipient at RCPT)
    Stop the process for "connection refused".

Each accepted message appends {"t", "to", "message_id", "subject", "peer"} to OUT.jsonl.
"""

import asyncio
import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.controller import Controller

PORT, MODEFILE, OUT = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def mode() -> str:
    try:
        with open(MODEFILE) as f:
            return f.read().strip()
    except OSError:
        return "ok"


def header(content: str, name: str):
    # Parsed, not read off the first line: a long header is folded onto the next one (a Message-ID
    # with a five-digit incident id and a long host name is), and its value must come unfolded.
    value = email.message_from_string(content, policy=email.policy.default)[name]
    return None if value is None else str(value).strip()


class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's API
        m = mode()
        if m.startswith("550:") and address == m[4:]:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's API
        m = mode()
        if m == "451":
            return "451 4.3.0 Try again later"
        if m == "554":
            return "554 5.7.1 Message refused"
        if m.startswith("slow:"):
            await asyncio.sleep(float(m[5:]))
        if m.startswith("hold:"):
            # Tell the test which message is held mid-DATA: its sender is between claim and "sent",
            # and stays there until the test lets it go.
            with open(m[5:] + ".waiting", "a") as f:
                f.write("".join(f"{to}\n" for to in envelope.rcpt_tos))
            while not os.path.exists(m[5:]):
                await asyncio.sleep(0.05)
        content = envelope.content.decode(errors="replace")
        record = {
            "t": time.time(),
            "to": envelope.rcpt_tos,
            "message_id": header(content, "Message-ID"),
            "subject": header(content, "Subject"),
            # The client's port: messages sharing it came over one connection.
            "peer": session.peer[1],
        }
        with open(OUT, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 Message accepted"


if __name__ == "__main__":
    controller = Controller(Sink(), hostname="127.0.0.1", port=PORT)
    controller.start()
    print("ready", flush=True)
    try:
        time.sleep(float(os.environ.get("SINK_SECONDS", "600")))  # bounded lifetime
    finally:
        controller.stop()
