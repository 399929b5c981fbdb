"""Routing and work assignment: policy, expressions, agents, the matcher. Pure."""
