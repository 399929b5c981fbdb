"""A worker with the ops endpoints and the TMF630 hub only, for tests/integration/test_hub.py.

Run as a script (``python tests/integration/hub_worker.py``), configured by the same
environment variables as ``interaction-streams worker``; it stands in for the real worker
until ``register_hub`` is wired into ``stream/app.py``.
"""

from __future__ import annotations

import faust

from interaction_streams.contract.topics import TopicContract
from interaction_streams.observability.logs import logging_config
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.app import faust_settings
from interaction_streams.stream.hub_delivery import register_hub
from interaction_streams.web.auth import ApiSettings
from interaction_streams.web.ops import register_ops_views


def main() -> None:
    settings = Settings()
    contract = TopicContract.load(settings.topics_file, settings.topic_prefix)
    app = faust.App(settings.app_id, **faust_settings(settings))
    metrics = Metrics()
    register_ops_views(app, metrics)
    register_hub(app, contract, settings.kafka, ApiSettings(), metrics)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level, settings.log_format),
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
