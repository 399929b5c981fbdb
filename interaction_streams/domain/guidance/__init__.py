"""Workflow guidance and recommendations: the flow policy and the per-interaction session."""
