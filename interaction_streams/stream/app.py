"""Build the Faust application of a worker from its settings and the topic contract."""

from __future__ import annotations

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
from interaction_streams.stream.channels import ChannelShell, track_channel_status
from interaction_streams.stream.customers import CustomerShell
from interaction_streams.stream.deadletters import DeadLetterSink
from interaction_streams.stream.escalation import EscalationShell
from interaction_streams.stream.hub_delivery import HubService, register_hub
from interaction_streams.stream.ingest import IngestShell
from interaction_streams.stream.interactions import InteractionShell
from interaction_streams.stream.outbound import OutboundShell
from interaction_streams.stream.replica import CompactedReplica
from interaction_streams.stream.routing import RoutingShell
from interaction_streams.web.auth import ApiSettings
from interaction_streams.web.channel_api import register_channel_api
from interaction_streams.web.context_api import register_context_api
from interaction_streams.web.ops import register_ops_views
from interaction_streams.web.tmf683_api import register_tmf683_api


@dataclass
class Worker:
    app: faust.App
    contract: TopicContract
    metrics: Metrics
    ingest: IngestShell
    interactions: InteractionShell
    customers: CustomerShell
    areas: AreaShell
    hub: HubService
    routing: RoutingShell
    channels: ChannelShell
    channel_status: CompactedReplica[ChannelStatus]
    escalation: EscalationShell
    outbound: OutboundShell


def create_worker(settings: Settings, contract: TopicContract | None = None) -> Worker:
    contract = contract or TopicContract.load(settings.topics_file, settings.topic_prefix)
    # The prefix also names the consumer group and changelogs: environments sharing a
    # cluster never share state.
    app = faust.App(settings.topic_prefix + settings.app_id, **faust_settings(settings))
    metrics = Metrics()
    deadletters = DeadLetterSink(app, contract, metrics)
    contact_index: CompactedReplica[ContactIndexEntry] = CompactedReplica(
        contract["contact-index"].name,
        ContactIndexEntry.model_validate_json,
        settings.kafka,
        client_id=f"{settings.app_id}-contact-index",
    )
    app.add_dependency(contact_index)
    ingest = IngestShell(app, contract, settings, metrics)
    interactions = InteractionShell(app, contract, settings, metrics, contact_index, deadletters)
    policy = load_policy(settings.context_policy)
    customers = CustomerShell(app, contract, settings, metrics, deadletters, policy)
    areas = AreaShell(app, contract, settings, metrics, deadletters)
    routing_policy = load_routing_policy(settings.routing_policy)
    routing = RoutingShell(app, contract, settings, metrics, deadletters, routing_policy)
    channels = ChannelShell(
        app, contract, settings, metrics, deadletters, load_channel_policy(settings.channel_policy)
    )
    interactions.observers.append(channels.observe)
    # One replica of the channel statuses per worker: the routing stage's (rules read it).
    channel_status = routing.channel_status
    track_channel_status(channel_status, metrics)
    register_channel_api(app, channel_status)
    escalation = EscalationShell(
        app,
        contract,
        settings,
        metrics,
        deadletters,
        load_escalation_policy(settings.escalation_policy),
        load_guidance_policy(settings.guidance_policy),
    )
    solicitation = load_solicitation_policy(settings.solicitation_policy)
    outbound = OutboundShell(app, contract, settings, metrics, deadletters, solicitation)
    customers.riders.append(outbound.ride)
    interactions.riders.append(escalation.ride_channel)
    routing.riders.append(escalation.ride_routing)
    api = ApiSettings()
    hub = register_hub(app, contract, settings.kafka, api, metrics)
    register_tmf683_api(app, interactions, api)
    register_context_api(app, customers)
    register_ops_views(
        app,
        metrics,
        readiness=(contact_index.ready, hub.ready, *routing.readiness),
        table_sizes={
            "interactions": interactions.status_counts.total,
            "channels": lambda: len(channels.states),
        },
    )
    return Worker(
        app,
        contract,
        metrics,
        ingest,
        interactions,
        customers,
        areas,
        hub,
        routing,
        channels,
        channel_status,
        escalation,
        outbound,
    )


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
