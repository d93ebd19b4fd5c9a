"""Slack app intake (docs/slack.md): button presses on incident messages and the `/incident`
slash command, both signed by Slack (X-Slack-Signature, checked with slack-sdk's
SignatureVerifier). Slack members act as the Beacon user whose profile carries their member id,
through incidents/workflow.py, with that user's permissions.

Imports the core and notifications (replies go through the outbox); only the composing top
(incidentsite/urls.py) imports it. Posting and updating incident messages is the outbox's
`slack_app` channel (incidents/notifications/slackapp.py).
"""
