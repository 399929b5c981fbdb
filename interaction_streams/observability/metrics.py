"""Prometheus metrics of a worker. Labels are bounded: never a customer or interaction id."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

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
            "cim_events_out_total",
            "Records written to stage topics, by topic and event type.",
            ["topic", "type"],
            registry=r,
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
        # ---- escalation stage ----
        self.escalations = Counter(
            "cim_escalations_total",
            "Escalation records published, by cause (a policy rule), level and kind.",
            ["cause", "level", "kind"],
            registry=r,
        )
        self.guidance = Counter(
            "cim_guidance_records_total",
            "Guidance records sent to agents (flow, progress, skipped, recommendation, by source) "
            "and recommendation requests (kind 'request', by moment).",
            ["kind", "source"],
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

        # ---- operations: consumer lag, interactions by status, channel health (issue 8) ----
        self.consumer_lag = Gauge(
            "cim_consumer_lag_records",
            "Records of an assigned partition not committed yet: high watermark minus the "
            "committed offset (refreshed on each scrape).",
            ["topic", "partition"],
            registry=r,
        )
        self.interactions = Gauge(
            "cim_interactions",
            "Interactions in the table on this worker's active partitions, by channel and "
            "SID status (closed ones until their retention passes).",
            ["channel", "status"],
            registry=r,
        )
        self.channel_status = Gauge(
            "cim_channel_status",
            "1 for a channel's current condition (up, degraded, down), 0 for the others; "
            "every worker exports it from cim.channel.status.v1.",
            ["channel", "status"],
            registry=r,
        )
        self.channel_status_changes = Counter(
            "cim_channel_status_changes_total",
            "Channel statuses published, by channel, condition and reason.",
            ["channel", "status", "reason"],
            registry=r,
        )
        self.channel_health_reports = Counter(
            "cim_channel_health_reports_total",
            "Channel health reports applied, by channel and reported condition.",
            ["channel", "status"],
            registry=r,
        )
        self.channel_heartbeats = Counter(
            "cim_channel_heartbeats_total",
            "Channel component heartbeats applied, by channel.",
            ["channel"],
            registry=r,
        )
        self.worker_ready = Gauge(
            "cim_worker_ready",
            "1 when the worker answers /ready with 200 (partitions assigned, tables "
            "recovered, replicas loaded), else 0 (refreshed on each scrape).",
            registry=r,
        )
        # process_* (memory, CPU, open files) and python_info, as a default registry has them.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.channel_arrivals = Counter(
            "cim_channel_arrivals_total",
            "Contacts arriving on a channel (contact-opening events applied by the "
            "interaction stage): the traffic the channel stage compares with its baseline.",
            ["channel"],
            registry=r,
        )

        self._routing_metrics(r)

    def _routing_metrics(self, r: CollectorRegistry) -> None:
        """Routing and assignment: labels are pool and queue names (the policy bounds the
        queues), presence and outcome values only."""
        self.routing_policy_updates = Counter(
            "cim_routing_policy_updates_total",
            "Routing policies received on the policy topic, by outcome (applied, refused).",
            ["outcome"],
            registry=r,
        )
        self.routing_waiting = Gauge(
            "cim_routing_waiting",
            "Interactions waiting (not offered) per queue.",
            ["pool", "queue"],
            registry=r,
        )
        self.routing_oldest_wait = Gauge(
            "cim_routing_oldest_wait_seconds",
            "Wait so far of the oldest waiting or offered interaction per queue.",
            ["pool", "queue"],
            registry=r,
        )
        self.routing_answered = Counter(
            "cim_routing_answered_total",
            "Offers accepted, by whether the wait was within the queue's service-level target.",
            ["pool", "queue", "within_target"],
            registry=r,
        )
        self.routing_service_level = Gauge(
            "cim_routing_service_level_ratio",
            "Share of the accepted contacts answered within the queue's target (this worker).",
            ["pool", "queue"],
            registry=r,
        )
        self.routing_abandoned = Counter(
            "cim_routing_abandoned_total",
            "Interactions abandoned while waiting or offered, per queue.",
            ["pool", "queue"],
            registry=r,
        )
        self.routing_agents = Gauge(
            "cim_routing_agents",
            "Logged-in agents by presence.",
            ["pool", "presence"],
            registry=r,
        )
        self.routing_offers = Counter(
            "cim_routing_offers_total",
            "Offers by outcome (offered, accepted, rejected, timed-out, rescinded, "
            "agent-unavailable).",
            ["pool", "outcome"],
            registry=r,
        )

    def type_label(self, event_type: str | None) -> str:
        """The event type if it is in the contract, else 'unknown' (keeps cardinality bounded)."""
        return event_type if event_type is not None and event_type in EVENT_TYPES else "unknown"

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
