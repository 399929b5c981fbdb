"""Benchmarks: each starts what it needs, prints its figures, writes them to a JSON file and
measures the raw aiokafka ceiling in the same run (see ``python -m interaction_streams.bench.*``).
"""
