"""Build the Faust application of a worker from its settings and the topic contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust

from interaction_streams.contract.channel_status import ChannelStatus
from interaction_streams.contract.party_index import ContactIndexEntry
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.channels.policy import load_channel_policy
from interaction_streams.domain.context.policy import load_policy
from interaction_streams.domain.escalation.policy import load_escalation_policy
from interaction_streams.domain.guidance.policy import load_guidance_policy
from interaction_streams.domain.outbound.policy import load_solicitation_policy
from interaction_streams.domain.routing.policy import load_routing_policy
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.areas import AreaShell
from interaction_streams.stream.channels import (
    ChannelShell,
    TrafficCounter,
    track_channel_status,
)
from interaction_streams.stream.customers import CustomerShell
from interaction_streams.stream.deadletters import DeadLetterSink
from interaction_streams.stream.escalation import EscalationShell
from interaction_streams.stream.hub_delivery import HubService, register_hub
from interaction_streams.stream.ingest import IngestShell
from interaction_streams.stream.interactions import InteractionShell
from interaction_streams.stream.outbound import OutboundShell
from interaction_streams.stream.replica import CompactedReplica, worker_replica
from interaction_streams.stream.routing import RoutingShell
from interaction_streams.stream.tables import stage_table_class
from interaction_streams.web.auth import ApiSettings
from interaction_streams.web.channel_api import register_channel_api
from interaction_streams.web.context_api import register_context_api
from interaction_streams.web.ops import register_ops_views
from interaction_streams.web.tmf683_api import register_tmf683_api


@dataclass
class Worker:
    """A worker's application and the shells of the stages it runs (``None``: not here)."""

    app: faust.App
    contract: TopicContract
    metrics: Metrics
    channel_status: CompactedReplica[ChannelStatus]
    ingest: IngestShell | None = None
    interactions: InteractionShell | None = None
    customers: CustomerShell | None = None
    areas: AreaShell | None = None
    routing: RoutingShell | None = None
    channels: ChannelShell | None = None
    escalation: EscalationShell | None = None
    outbound: OutboundShell | None = None
    hub: HubService | None = None


def create_worker(settings: Settings, contract: TopicContract | None = None) -> Worker:
    """A worker running the stages of ``CIM_STAGES``. Stages in one worker share Faust hops
    (riders); a stage whose host runs elsewhere subscribes to the ridden topics itself."""
    contract = contract or TopicContract.load(settings.topics_file, settings.topic_prefix)
    # The prefix also names the consumer group and changelogs: environments sharing a
    # cluster never share state.
    app = faust.App(settings.group_id, **faust_settings(settings))
    metrics = Metrics()
    deadletters = DeadLetterSink(app, contract, metrics)
    # One replica of the channel statuses per worker: routing rules and /channelStatus read it.
    channel_status = worker_replica(app, settings, contract, "channel-status", ChannelStatus)
    track_channel_status(channel_status, metrics)
    register_channel_api(app, channel_status)
    worker = Worker(app, contract, metrics, channel_status)
    readiness: list[Any] = [channel_status.ready]
    table_sizes: dict[str, Callable[[], int]] = {}
    api = ApiSettings()
    shared = (app, contract, settings, metrics)
    if settings.runs("ingest"):
        worker.ingest = IngestShell(*shared)
    if settings.runs("interactions"):
        contact_index = worker_replica(app, settings, contract, "contact-index", ContactIndexEntry)
        readiness.append(contact_index.ready)
        interactions = InteractionShell(*shared, contact_index, deadletters)
        interactions.observers.append(TrafficCounter(*shared).observe)
        register_tmf683_api(app, interactions, api)
        table_sizes["interactions"] = interactions.status_counts.total
        worker.interactions = interactions
    if settings.runs("customers"):
        policy = load_policy(settings.context_policy)
        worker.customers = CustomerShell(*shared, deadletters, policy)
        register_context_api(app, worker.customers)
    if settings.runs("areas"):
        worker.areas = AreaShell(*shared, deadletters)
    if settings.runs("routing"):
        routing_policy = load_routing_policy(settings.routing_policy)
        worker.routing = RoutingShell(*shared, deadletters, routing_policy, channel_status)
        readiness.extend(worker.routing.readiness)
    if settings.runs("channels"):
        channel_policy = load_channel_policy(settings.channel_policy)
        channels = ChannelShell(*shared, deadletters, channel_policy)
        table_sizes["channels"] = lambda: len(channels.states)
        worker.channels = channels
    if settings.runs("escalation"):
        worker.escalation = EscalationShell(
            *shared,
            deadletters,
            load_escalation_policy(settings.escalation_policy),
            load_guidance_policy(settings.guidance_policy),
        )
    if settings.runs("outbound"):
        solicitation = load_solicitation_policy(settings.solicitation_policy)
        worker.outbound = OutboundShell(*shared, deadletters, solicitation)
    if settings.runs("hub"):
        worker.hub = register_hub(app, contract, settings.kafka, api, metrics)
        readiness.append(worker.hub.ready)
    _ride(worker)
    register_ops_views(app, metrics, readiness=tuple(readiness), table_sizes=table_sizes)
    return worker


def _ride(worker: Worker) -> None:
    """Stages of this worker that read records of another stage of this worker ride along on
    its agent (``Settings.runs`` told each rider whether its host is here)."""
    if worker.customers and worker.outbound:
        worker.customers.riders.append(worker.outbound.ride)
    if worker.interactions and worker.escalation:
        worker.interactions.riders.append(worker.escalation.ride_channel)
    if worker.routing and worker.escalation:
        worker.routing.riders.append(worker.escalation.ride_routing)


def faust_settings(settings: Settings) -> dict[str, Any]:
    kafka = settings.kafka
    options: dict[str, Any] = {
        "broker": kafka.broker_url(),
        "store": settings.store,
        "datadir": str(settings.data_dir),
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "canonical_url": settings.web_url,
        "processing_guarantee": settings.processing_guarantee,
        "topic_replication_factor": settings.topic_replication_factor,
        "topic_partitions": 4,
        "consumer_auto_offset_reset": "earliest",
        "table_standby_replicas": 0,
        "web_in_thread": False,
        "producer_acks": -1,
        "broker_commit_interval": 1.0,
        "broker_session_timeout": settings.session_timeout_seconds,
        "broker_heartbeat_interval": min(3.0, settings.session_timeout_seconds / 3),
        # aiokafka waits for the in-flight request once a partition's batch is full; at the
        # 16 KiB default a stage stalls on every round trip (measured: +20 % events/s).
        "producer_max_batch_size": 1024 * 1024,
        # Changelogs named after the application, not the group (``CIM_STAGES``).
        "Table": stage_table_class(settings),
    }
    credentials = _credentials(settings)
    if credentials is not None:
        options["broker_credentials"] = credentials
    return options


def _credentials(settings: Settings) -> Any:
    kafka = settings.kafka
    context = kafka.ssl_context()
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
