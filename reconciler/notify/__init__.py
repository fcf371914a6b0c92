"""Notifications: events derived from each cycle's report, recorded once in git (the
outbox), and sent to the policy's `[notify.NAME]` sinks (Slack, Teams, a signed webhook)."""
