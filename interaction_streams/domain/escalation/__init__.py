"""Escalation: business-hours calendar, policy, the per-interaction case and its step."""
