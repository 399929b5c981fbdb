"""Payload models of every input event type, one module per family, and the type registry."""
