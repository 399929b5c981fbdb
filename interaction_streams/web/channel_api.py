"""``GET /channelStatus`` and ``GET /channelStatus/{channel}``: the status of each channel's
infrastructure, answered by any worker from its replica of ``cim.channel.status.v1``."""

from __future__ import annotations

from typing import Any, get_args

import faust
from faust.web import Request, Response, View

from interaction_streams.contract.channel_status import ChannelStatus
from interaction_streams.contract.events.agent import MediaChannel
from interaction_streams.stream.replica import CompactedReplica
from interaction_streams.web.errors import tmf_error

CHANNELS = frozenset(get_args(MediaChannel))


def _body(status: ChannelStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def register_channel_api(app: faust.App, replica: CompactedReplica[ChannelStatus]) -> None:
    @app.page("/channelStatus")
    class ChannelStatusList(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            if not replica.ready.is_set():
                return tmf_error(
                    self, 503, "unavailable", "Service Unavailable", "channel statuses loading"
                )
            statuses = sorted((s for _, s in replica.items()), key=lambda s: s.channel)
            return self.json([_body(s) for s in statuses])

    @app.page("/channelStatus/{channel}")
    class ChannelStatusOne(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            channel = str(kwargs["channel"])
            if channel not in CHANNELS:
                return tmf_error(
                    self,
                    400,
                    "invalidChannel",
                    "Bad Request",
                    f"channel must be one of {', '.join(sorted(CHANNELS))}",
                )
            if not replica.ready.is_set():
                return tmf_error(
                    self, 503, "unavailable", "Service Unavailable", "channel statuses loading"
                )
            status = replica.get(channel)
            if status is None:
                return tmf_error(
                    self, 404, "notFound", "Not Found", f"no status of channel {channel!r} yet"
                )
            return self.json(_body(status))
