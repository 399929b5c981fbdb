"""The contact-center simulator: a deterministic core and a thin Kafka driver."""
