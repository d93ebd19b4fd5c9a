"""Email in: mail to an intake address opens an incident, a reply to a Beacon email becomes a note.

`server.py` is the SMTP/LMTP receiver a mail server forwards to (`manage.py run_mail_intake`),
`message.py` reads a message (who sent it, what it says, what it answers, whether it is mail
nobody should answer), `intake.py` decides and acts through the workflow in one transaction.
docs/email-in.md says how to point Postfix or Exim at it.
"""
