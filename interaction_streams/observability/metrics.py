"""Prometheus metrics of a worker. Labels are bounded: never a customer or interaction id."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from interaction_streams.contract.events.registry import EVENT_TYPES

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class Metrics:
    """All series of one worker, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_in = Counter(
            "cim_events_in_total",
            "Input records read, by topic and event type (unknown types as 'unknown').",
            ["topic", "type"],
            registry=r,
        )
        self.events_out = Counter(
            "cim_events_out_total", "Records written, by topic.", ["topic"], registry=r
        )
        self.duplicates = Counter(
            "cim_duplicates_dropped_total",
            "Input events dropped because their (source, id) was already seen in the window.",
            ["topic"],
            registry=r,
        )
        self.dead_letters = Counter(
            "cim_dead_letters_total",
            "Input records sent to the dead-letter topic, by reason and source topic.",
            ["reason", "topic"],
            registry=r,
        )
        self.processing = Histogram(
            "cim_processing_seconds",
            "Time to process one input record in a stage, from decode to the last send.",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.event_age = Histogram(
            "cim_event_age_seconds",
            "Age of an event when processed: processing wall time minus the Kafka record time.",
            ["stage"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300),
            registry=r,
        )
        self.late_events = Counter(
            "cim_late_events_total",
            "Events older than the lateness bound, applied in arrival order.",
            ["stage"],
            registry=r,
        )
        self.anomalies = Counter(
            "cim_impossible_transitions_total",
            "Events that were impossible in the interaction's phase (recorded as a note).",
            ["stage"],
            registry=r,
        )
        self.interaction_events = Counter(
            "cim_party_interaction_events_total",
            "TMF683 events published, by event type.",
            ["event_type"],
            registry=r,
        )
        self.moments = Counter(
            "cim_business_moments_total",
            "Business moments started or ended, by moment.",
            ["moment", "state"],
            registry=r,
        )
        self.snapshots = Counter(
            "cim_context_snapshots_total",
            "Customer-context snapshots published (after debouncing).",
            registry=r,
        )
        self.incident_fanout = Histogram(
            "cim_incident_fanout_customers",
            "Customers an area incident reached.",
            buckets=(0, 1, 10, 100, 1000, 10_000, 100_000),
            registry=r,
        )
        # ---- outbound stage ----
        self.outbound_decisions = Counter(
            "cim_outbound_decisions_total",
            "Solicitation decisions, by outcome (sent, deferred, suppressed, missed, flagged), "
            "purpose and deciding rule ('-' when none).",
            ["outcome", "purpose", "rule"],
            registry=r,
        )
        self.outbound_deliveries = Counter(
            "cim_outbound_deliveries_total",
            "Delivery updates of outbound messages, by status.",
            ["status"],
            registry=r,
        )
        self.outbound_uninformed = Counter(
            "cim_outbound_uninformed_customers_total",
            "Customers in an incident not informed within the policy's time (under-use).",
            registry=r,
        )
        self.table_entries = Gauge(
            "cim_table_entries",
            "Entries in a table on this worker's active partitions.",
            ["table"],
            registry=r,
        )

    def type_label(self, event_type: str | None) -> str:
        """The event type if it is in the contract, else 'unknown' (keeps cardinality bounded)."""
        return event_type if event_type is not None and event_type in EVENT_TYPES else "unknown"

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
