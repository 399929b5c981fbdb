"""The ``interaction-streams`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from interaction_streams.yamlfile import YamlFileError


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        sys.exit(2)
    try:
        sys.exit(args.func(args))
    except YamlFileError as exc:
        print("error: " + "\n".join(exc.problems), file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from interaction_streams.localkafka import add_kafka_commands

    parser = argparse.ArgumentParser(
        prog="interaction-streams",
        description="TM Forum Customer Interaction Management on Kafka.",
    )
    sub = parser.add_subparsers(metavar="command")

    worker = sub.add_parser("worker", help="run a stream worker (settings from the environment)")
    worker.set_defaults(func=_worker)

    topics = sub.add_parser("topics", help="the topic contract (topics.yaml)")
    topics_sub = topics.add_subparsers(metavar="action")
    apply = topics_sub.add_parser("apply", help="create missing topics and report drift")
    apply.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    apply.add_argument("--active-only", action="store_true", help="skip topics still planned")
    apply.add_argument("--bootstrap", help="bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)")
    apply.set_defaults(func=_topics_apply)
    show = topics_sub.add_parser("list", help="print the contract")
    show.set_defaults(func=_topics_list)

    schemas = sub.add_parser("schemas", help="JSON Schemas of the wire formats")
    schemas_sub = schemas.add_subparsers(metavar="action")
    export = schemas_sub.add_parser("export", help="write the schemas into schemas/")
    export.add_argument("--dir", type=Path, default=None)
    export.add_argument("--check", action="store_true", help="fail if the files differ")
    export.set_defaults(func=_schemas_export)

    demo = sub.add_parser("demo", help="the `make run` demo: local Kafka, a worker, a sample")
    demo.add_argument("--bootstrap", help="use this Kafka instead of starting a local one")
    demo.add_argument("--seconds", type=float, default=60.0, help="wall time of the simulation")
    demo.add_argument("--speed", type=float, default=10.0, help="simulated seconds per second")
    demo.add_argument("--scenario", default="multichannel-day", help="file or name of a scenario")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--sample", action="store_true", help="the small sample walk-through instead")
    demo.set_defaults(func=_demo)

    policy = sub.add_parser("policy", help="business policies replaced at run time")
    policy_sub = policy.add_subparsers(metavar="action")
    publish = policy_sub.add_parser(
        "publish", help="validate a policy file, then publish it on its policy topic"
    )
    publish.add_argument("kind", choices=["routing"], help="which policy")
    publish.add_argument("file", type=Path, help="the YAML file")
    publish.add_argument("--bootstrap", help="bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)")
    publish.set_defaults(func=_policy_publish)

    simulate = sub.add_parser("simulate", help="a simulated contact center against the product")
    simulate.add_argument(
        "--scenario", default="single-queue", help="a file or a name in deploy/scenarios"
    )
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--speed", type=float, default=10.0, help="simulated seconds per second")
    simulate.add_argument(
        "--duration", type=float, default=None, help="stop after these wall seconds"
    )
    simulate.add_argument(
        "--bootstrap", help="bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    simulate.set_defaults(func=_simulate)

    from interaction_streams.bench.pipeline import add_arguments as bench_arguments

    bench = sub.add_parser("bench", help="the pipeline benchmark (throughput, ceiling, latency)")
    bench_arguments(bench)
    bench.set_defaults(func=_bench)

    add_kafka_commands(sub)
    return parser


def _worker(args: argparse.Namespace) -> int:
    import faust

    from interaction_streams.observability.logs import logging_config
    from interaction_streams.settings import Settings
    from interaction_streams.stream.app import create_worker

    settings = Settings()
    built = create_worker(settings)
    worker = faust.Worker(
        built.app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level, settings.log_format),
    )
    # Faust's terminal spinner sets the root logger to DEBUG when the level is WARNING or
    # above, so every send would build a debug record: a service needs no spinner.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


def _topics_apply(args: argparse.Namespace) -> int:
    from interaction_streams.admin.topics import apply_topics
    from interaction_streams.contract.topics import TopicContract
    from interaction_streams.settings import KafkaSettings, Settings

    settings = Settings()
    kafka = KafkaSettings(bootstrap_servers=args.bootstrap) if args.bootstrap else settings.kafka
    contract = TopicContract.load(settings.topics_file, settings.topic_prefix)
    report = asyncio.run(
        apply_topics(contract, kafka, dry_run=args.dry_run, include_planned=not args.active_only)
    )
    for line in report.lines(args.dry_run):
        print(line)
    return 0 if report.ok else 1


def _topics_list(args: argparse.Namespace) -> int:
    from interaction_streams.contract.topics import TopicContract
    from interaction_streams.settings import Settings

    settings = Settings()
    for t in TopicContract.load(settings.topics_file, settings.topic_prefix):
        print(f"{t.name:40} {t.spec.status:8} p={t.partitions} {t.cleanup_policy:8} {t.spec.key}")
    return 0


def _schemas_export(args: argparse.Namespace) -> int:
    from interaction_streams.contract import schemas

    target = args.dir or schemas.DEFAULT_SCHEMA_DIR
    if args.check:
        stale = [
            rel
            for rel, schema in schemas.all_schemas()
            if not (target / rel).exists()
            or (target / rel).read_text(encoding="utf-8") != schemas.render(schema)
        ]
        for rel in stale:
            print(f"out of date: {target / rel}", file=sys.stderr)
        return 1 if stale else 0
    for path in schemas.export(target):
        print(f"wrote {path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from interaction_streams.demo import run_demo, run_sample

    if args.sample:
        return run_sample(args.bootstrap)
    return run_demo(args.bootstrap, args.seconds, args.speed, args.scenario, args.seed)


def _simulate(args: argparse.Namespace) -> int:
    from interaction_streams.simulator.run import main as simulate

    return simulate(args.scenario, args.seed, args.speed, args.duration, args.bootstrap)


def _bench(args: argparse.Namespace) -> int:
    from interaction_streams.bench.pipeline import options, run_bench

    return run_bench(options(args))


def _policy_publish(args: argparse.Namespace) -> int:
    """Validate locally (a bad file never reaches the topic: exit 2 with file, line, reason),
    then publish it; every worker switches to it."""
    from interaction_streams.admin.policies import publish_routing_policy

    offset = asyncio.run(publish_routing_policy(args.file, args.bootstrap))
    print(f"published {args.file} on the routing policy topic (offset {offset})")
    return 0
