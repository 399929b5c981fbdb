"""The customer context: what routing, escalation and outbound decisions read about a party."""
