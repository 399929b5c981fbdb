"""Outbound interaction initiation and solicitation policy (pure)."""
