"""The TMF683 v5 REST API (``/tmf-api/partyInteractionManagement/v5``), served by every worker.

``GET /partyInteraction/{id}`` is answered by the worker that owns the key's partition:
``app.table_route`` forwards it there (the table's keys and the stage topic's keys are the
same JSON strings, so the route and the data agree).

``GET /partyInteraction`` fans out: the worker that receives it asks every other worker
that holds partitions of the interactions table for its matches (header ``X-Cim-Local``),
each answering with its match count and its first ``offset + limit`` matches in the list
order, and merges them (``domain.interaction.query``). Every partition must be answered
for exactly once, or the answer is 503: never a silently partial list.

``POST`` and ``PATCH`` never write the table (Faust forbids it outside stream iteration):
they send an ``apply`` command through Kafka to the interaction stage, keyed like the
table. POST answers with the resource the stage will build, computed with the same pure
functions. A forwarded request loses its body, so PATCH does not use ``table_route``: the
receiving worker sends the command itself, then asks the owner until the command is
applied (read-your-writes), answering 202 with the last known resource if that takes
longer than the wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
import faust
import orjson
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable
from pydantic import AwareDatetime, Field, ValidationError, field_validator
from yarl import URL

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.commands import (
    ApiCreate,
    ApiPatch,
    InteractionCommand,
    LinkMention,
    OutcomeStatus,
    PartyMention,
)
from interaction_streams.domain.interaction import query as q
from interaction_streams.domain.interaction import tmf683
from interaction_streams.domain.interaction.lifecycle import Stimulus, apply
from interaction_streams.domain.interaction.model import Interaction
from interaction_streams.domain.interaction.timeline import Timeline
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.interactions import InteractionShell
from interaction_streams.web.auth import SCOPE_INTERACTION_WRITE, ApiSettings, BearerAuth
from interaction_streams.web.errors import tmf_error, validation_message

log = logging.getLogger(__name__)

BASE_PATH = tmf683.BASE_PATH
# Between workers only: answer a list from this worker's active partitions ...
LOCAL_HEADER = "X-Cim-Local"
# ... with only the first N matches in the list order (the merge needs no more) ...
TOP_HEADER = "X-Cim-Top"
# ... and say which partitions the answer covers.
PARTITIONS_HEADER = "X-Cim-Partitions"
# Between workers only: GET /partyInteraction/{id} answers {"applied", "partyInteraction"}
# (applied: the command with this id is folded into the interaction; "-" asks for none).
PROBE_HEADER = "X-Cim-Probe"

CHANNELS = ("voice", "chat", "email", "sms", "social", "selfservice")
NOT_PATCHABLE = ("direction", "id", "href", "creationDate")
PATCHABLE = frozenset(
    {
        "reason",
        "description",
        "status",
        "disposition",
        "relatedParty",
        "note",
        "interactionRelationship",
        "@type",
        "@baseType",
        "@schemaLocation",
    }
)


@dataclass(frozen=True)
class ApiTimeouts:
    peer_seconds: float = 3.0  # one worker asking another (list part, owner lookup)
    forward_seconds: float = 5.0  # a GET forwarded by table_route
    patch_wait_seconds: float = 10.0  # read-your-writes wait of PATCH, then 202
    poll_seconds: float = 0.1


# ---- request bodies ---------------------------------------------------------------------


class _ChannelRefIn(WireModel):
    id: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=64)


class _RelatedChannelIn(WireModel):
    role: str | None = Field(default=None, max_length=64)
    channel: _ChannelRefIn


class _PartyRefIn(WireModel):
    id: str = Field(min_length=1, max_length=128)


class _RelatedPartyIn(WireModel):
    role: Literal["customer", "prospect", "agent", "supervisor", "bot", "external"]
    party_or_party_role: _PartyRefIn

    def mention(self) -> PartyMention:
        return PartyMention(party_id=self.party_or_party_role.id, role=self.role)


class _NoteIn(WireModel):
    text: str = Field(min_length=1, max_length=4000)


class _RelationshipIn(WireModel):
    id: str = Field(min_length=1, max_length=128)
    relationship_type: Literal["handover", "parent", "followUp"]

    def mention(self) -> LinkMention:
        return LinkMention(interaction_id=self.id, relationship_type=self.relationship_type)


class _PeriodIn(WireModel):
    start_date_time: AwareDatetime | None = None


def _channel_of(related: _RelatedChannelIn) -> str | None:
    for candidate in (related.channel.id, related.channel.name):
        if candidate and candidate.lower() in CHANNELS:
            return candidate.lower()
    return None


class PartyInteractionCreate(WireModel):
    """The part of PartyInteraction_FVO that ``POST /partyInteraction`` understands."""

    id: str | None = Field(default=None, min_length=1, max_length=128)
    related_channel: tuple[_RelatedChannelIn, ...] = Field(min_length=1)
    direction: Literal["inbound", "outbound"]
    reason: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=1000)
    status: OutcomeStatus | None = None
    related_party: tuple[_RelatedPartyIn, ...] = ()
    note: tuple[_NoteIn, ...] = ()
    interaction_relationship: tuple[_RelationshipIn, ...] = ()
    interaction_date: _PeriodIn | None = None

    @field_validator("related_channel")
    @classmethod
    def _known_channel(cls, value: tuple[_RelatedChannelIn, ...]) -> tuple[_RelatedChannelIn, ...]:
        if value and _channel_of(value[0]) is None:
            raise ValueError(f"the first channel's id or name must be one of {', '.join(CHANNELS)}")
        return value

    def command_data(self, interaction_id: str) -> ApiCreate:
        return ApiCreate(
            interaction_id=interaction_id,
            channel=_channel_of(self.related_channel[0]),
            direction=self.direction,
            reason=self.reason,
            description=self.description,
            status=self.status,
            parties=tuple(p.mention() for p in self.related_party),
            notes=tuple(n.text for n in self.note),
            relationships=tuple(r.mention() for r in self.interaction_relationship),
        )


class PartyInteractionPatch(WireModel):
    """The attributes ``PATCH /partyInteraction/{id}`` may change (a JSON merge patch)."""

    reason: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=1000)
    status: OutcomeStatus | None = None
    disposition: str | None = Field(default=None, max_length=128)
    related_party: tuple[_RelatedPartyIn, ...] | None = None  # replaces the parties
    note: tuple[_NoteIn, ...] = ()  # appended
    interaction_relationship: tuple[_RelationshipIn, ...] = ()  # added

    def command_data(self, interaction_id: str) -> ApiPatch:
        return ApiPatch(
            interaction_id=interaction_id,
            reason=self.reason,
            description=self.description,
            status=self.status,
            disposition=self.disposition,
            parties=(
                tuple(p.mention() for p in self.related_party)
                if self.related_party is not None
                else None
            ),
            notes=tuple(n.text for n in self.note),
            relationships=tuple(r.mention() for r in self.interaction_relationship),
        )


class _BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Unavailable(Exception):
    """The answer cannot be complete now (rebalance, recovery, a worker not answering)."""


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _last_update_ms(resource: Mapping[str, Any]) -> int:
    return q.parse_instant_us("lastUpdate", str(resource["lastUpdate"])) // 1000


def _applied(timeline: Timeline, command_id: str) -> bool:
    return command_id in timeline.recent_ids or any(s.id == command_id for s in timeline.tail)


async def _json_object(request: Request, what: str) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise _BadRequest("invalidBody", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _BadRequest("invalidBody", f"the body must be a JSON object ({what})")
    return body


# ---- the service behind the views -------------------------------------------------------


class Tmf683Api:
    """Reads the interactions table, asks other workers, and sends commands."""

    def __init__(self, app: faust.App, shell: InteractionShell, timeouts: ApiTimeouts) -> None:
        self.app = app
        self.shell = shell
        self.timeouts = timeouts

    # -- this worker

    def serving(self) -> bool:
        """The local table is complete for the active partitions (not mid-recovery)."""
        recovery = self.app.tables.recovery  # type: ignore[attr-defined]
        return bool(
            not self.app.rebalancing and not self.app.in_recovery and recovery.completed.is_set()
        )

    def _changelog_topic(self) -> str:
        return str(self.shell.table.changelog_topic.get_topic_name())

    def active_partitions(self) -> frozenset[int]:
        topic = self._changelog_topic()
        return frozenset(
            tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic
        )

    def partition_count(self) -> int:
        return int(
            self.shell.table.partitions or self.shell.contract["ingested-channel"].partitions
        )

    def now_ms(self) -> int:
        return self.shell.now_ms() or int(time.time() * 1000)

    def local(
        self, interaction_id: str, command_id: str | None = None
    ) -> tuple[Interaction | None, bool]:
        """The interaction as this worker's table has it, and whether ``command_id`` is in."""
        timeline: Timeline | None = self.shell.table.get(interaction_id)
        if timeline is None:
            return None, False
        applied = command_id is not None and _applied(timeline, command_id)
        return timeline.current, applied

    def _partition_of(self, key: str) -> int:
        tp = self.app.producer.key_partition(self._changelog_topic(), stage_key(key))
        return int(tp.partition)

    async def local_part(
        self, query: q.ListQuery, needed: int
    ) -> tuple[int, list[dict[str, Any]], frozenset[int]]:
        """This worker's match count, first ``needed`` matches and the partitions covered."""
        if not self.serving():
            raise _Unavailable("this worker is recovering its partitions")
        before = self.active_partitions()
        # rocksdb:// iterates the active partitions only; memory:// also keeps keys of
        # standby and revoked partitions, which another worker answers for.
        owned = self._partition_of if self.shell.settings.store == "memory://" else None
        matching: list[Interaction] = []
        try:
            for n, (key, timeline) in enumerate(self.shell.table.items()):
                if n % 500 == 499:
                    await asyncio.sleep(0)  # let the worker breathe on big tables
                current = timeline.current
                if current is None or not query.filters.matches(current):
                    continue
                if owned is None or owned(key) in before:
                    matching.append(current)
        except RuntimeError as exc:  # the store changed under the iteration (rebalance)
            raise _Unavailable(f"the partitions moved while listing ({exc})") from None
        if self.active_partitions() != before or not self.serving():
            raise _Unavailable("the partitions moved while listing")
        total, first = q.top(matching, q.Filters(), needed)
        return total, [tmf683.resource(i) for i in first], before

    # -- other workers

    def _ident(self, url: URL | str) -> tuple[str, int]:
        u = URL(str(url))
        return (u.host or "", int(u.port or 80))

    def _is_self(self, url: URL | str) -> bool:
        return self._ident(url) == self._ident(self.app.conf.canonical_url)

    def owner(self, interaction_id: str) -> URL | None:
        """The web URL of the worker that owns the key; None when it is this worker."""
        try:
            url = self.app.router.key_store(self.shell.table.name, interaction_id)
        except Exception:  # KeyError: no owner known now (rebalance)
            raise _Unavailable("the owner of this interaction is not known now") from None
        return None if self._is_self(url) else URL(str(url))

    def peers(self) -> list[URL]:
        """The other workers that hold partitions of the interactions table."""
        try:
            hosts = self.app.router.table_metadata(self.shell.table.name)
        except Exception:
            raise _Unavailable("the partition assignment is not known now") from None
        return [
            URL(str(host))
            for host, topics in hosts.items()
            if not self._is_self(host) and any(topics.values())
        ]

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=seconds)

    async def fetch(
        self, interaction_id: str, command_id: str | None = None
    ) -> tuple[dict[str, Any] | None, bool]:
        """The resource from its owner (locally or over HTTP), and whether the command is in."""
        owner = self.owner(interaction_id)
        if owner is None:
            if not self.serving():
                raise _Unavailable("this worker is recovering its partitions")
            current, applied = self.local(interaction_id, command_id)
            return (tmf683.resource(current) if current else None), applied
        url = owner.with_path(tmf683.href(interaction_id))
        try:
            async with self.app.http_client.get(
                url,
                headers={PROBE_HEADER: command_id or "-"},
                timeout=self._timeout(self.timeouts.peer_seconds),
            ) as response:
                if response.status != 200:
                    raise _Unavailable(f"the owner {owner} answered {response.status}")
                body = orjson.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise _Unavailable(f"the owner {owner} did not answer ({_why(exc)})") from None
        return body.get("partyInteraction"), bool(body.get("applied"))

    async def _peer_part(
        self, peer: URL, request: Request, needed: int
    ) -> tuple[int, list[dict[str, Any]], frozenset[int]]:
        url = peer.join(request.rel_url)
        try:
            async with self.app.http_client.get(
                url,
                headers={LOCAL_HEADER: "1", TOP_HEADER: str(needed)},
                timeout=self._timeout(self.timeouts.peer_seconds),
            ) as response:
                if response.status != 200:
                    raise _Unavailable(f"the worker {peer} answered {response.status}")
                items = orjson.loads(await response.read())
                total = int(response.headers["X-Total-Count"])
                raw = response.headers.get(PARTITIONS_HEADER, "")
                partitions = frozenset(int(p) for p in raw.split(",") if p)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
            raise _Unavailable(f"the worker {peer} did not answer ({_why(exc)})") from None
        return total, items, partitions

    async def list_all(self, request: Request, query: q.ListQuery) -> q.Page:
        peers = self.peers()
        parts = await asyncio.gather(
            self.local_part(query, query.needed),
            *(self._peer_part(peer, request, query.needed) for peer in peers),
        )
        covered: list[int] = [p for _, _, partitions in parts for p in partitions]
        if sorted(covered) != list(range(self.partition_count())):
            raise _Unavailable(
                f"the workers answered for partitions {sorted(covered)}, not each of "
                f"0..{self.partition_count() - 1} once (a rebalance is under way)"
            )
        return q.merge_pages(((total, items) for total, items, _ in parts), query)

    # -- writes

    async def send(self, command: InteractionCommand) -> None:
        """Send a command to the interaction stage and wait for the broker's acknowledgement."""
        try:
            sent = await self.shell.commands.send(
                key=stage_key(command.interaction_id), value=command
            )
            await sent
        except Exception as exc:
            log.warning("cannot send %s for %s: %r", command.type, command.interaction_id, exc)
            raise _Unavailable(f"the command could not be written to Kafka ({exc!r})") from None


# ---- views ------------------------------------------------------------------------------


def _error(view: View, exc: Exception) -> Response:
    if isinstance(exc, _BadRequest):
        return tmf_error(view, 400, exc.code, "Bad Request", str(exc))
    if isinstance(exc, q.QueryError):
        return tmf_error(view, 400, "invalidQuery", "Bad Request", str(exc))
    return tmf_error(
        view, 503, "unavailable", "Service Unavailable", str(exc), headers={"Retry-After": "1"}
    )


def _not_found(view: View, interaction_id: str) -> Response:
    return tmf_error(view, 404, "notFound", "Not Found", f"no partyInteraction {interaction_id!r}")


def _fields(request: Request) -> frozenset[str] | None:
    return q.parse_fields(request.query.get("fields"))


def register_tmf683_api(
    app: faust.App,
    shell: InteractionShell,
    api: ApiSettings,
    *,
    auth: BearerAuth | None = None,
    timeouts: ApiTimeouts | None = None,
) -> Tmf683Api:
    """Add ``/partyInteraction`` and ``/partyInteraction/{id}`` under the TMF683 base path.

    ``auth`` may be shared with other views (built from ``api`` when absent).
    """
    bearer = auth or BearerAuth(api)
    service = Tmf683Api(app, shell, timeouts or ApiTimeouts())

    class PartyInteractions(View):
        async def on_request_error(self, request: Request, exc: Any) -> Response:
            return _web_error(self, exc)

        async def get(self, request: Request, **kwargs: Any) -> Response:
            local = request.headers.get(LOCAL_HEADER) == "1"
            try:
                query = q.parse_list_query(request.query.items(), bounded=not local)
                if local:  # a part of another worker's list
                    needed = q.parse_top(request.headers.get(TOP_HEADER), query.needed)
                    total, items, partitions = await service.local_part(query, needed)
                    return self.json(
                        items,
                        headers={
                            "X-Total-Count": str(total),
                            "X-Result-Count": str(len(items)),
                            PARTITIONS_HEADER: ",".join(str(p) for p in sorted(partitions)),
                        },
                    )
                result = await service.list_all(request, query)
            except (q.QueryError, _Unavailable) as exc:
                return _error(self, exc)
            return self.json(
                result.items,
                headers={
                    "X-Total-Count": str(result.total),
                    "X-Result-Count": str(len(result.items)),
                },
            )

        async def post(self, request: Request, **kwargs: Any) -> Response:
            denied = bearer.check(self, request, SCOPE_INTERACTION_WRITE)
            if denied is not None:
                return denied
            try:
                body = await _json_object(request, "a PartyInteraction")
                try:
                    wanted = PartyInteractionCreate.model_validate(body)
                except ValidationError as exc:
                    raise _BadRequest("invalidBody", validation_message(exc)) from None
                interaction_id = wanted.id or str(uuid.uuid4())
                if wanted.id is not None:
                    existing, _ = await service.fetch(interaction_id)
                    if existing is not None:
                        return tmf_error(
                            self,
                            409,
                            "conflict",
                            "Conflict",
                            f"the partyInteraction {interaction_id!r} already exists",
                        )
                start = wanted.interaction_date.start_date_time if wanted.interaction_date else None
                moment = _moment(_ms(start) if start is not None else service.now_ms())
                at_ms = _ms(moment)  # as the stage reads the command's time
                command_id = str(uuid.uuid4())
                data = wanted.command_data(interaction_id).model_dump(mode="json", by_alias=True)
                # The resource the stage will build: the same pure step on the same input.
                created = apply(
                    None, Stimulus(id=command_id, type="cim.api.create", time_ms=at_ms, data=data)
                )
                await service.send(
                    InteractionCommand(
                        command="apply",
                        type="cim.api.create",
                        data=data,
                        interaction_id=interaction_id,
                        command_id=command_id,
                        time=moment,
                    )
                )
            except (_BadRequest, _Unavailable) as exc:
                return _error(self, exc)
            href = tmf683.href(interaction_id)
            return self.json(
                q.project(tmf683.resource(created), _fields(request)),
                status=201,
                headers={"Location": href},
            )

    async def retrieve(view: View, request: Request, **kwargs: Any) -> Response:
        """On the owner of the key (table_route brought the request here)."""
        interaction_id = str(kwargs["id"])
        if not service.serving():
            return _error(view, _Unavailable("this worker is recovering its partitions"))
        probe = request.headers.get(PROBE_HEADER)
        current, applied = service.local(
            interaction_id, probe if probe not in (None, "-") else None
        )
        resource = tmf683.resource(current) if current is not None else None
        if probe is not None:  # another worker asks for a PATCH or POST
            return view.json({"applied": applied, "partyInteraction": resource})
        if resource is None:
            return _not_found(view, interaction_id)
        return view.json(q.project(resource, _fields(request)))

    routed = app.table_route(table=shell.table, match_info="id")(retrieve)

    class PartyInteractionEntry(View):
        async def on_request_error(self, request: Request, exc: Any) -> Response:
            return _web_error(self, exc)

        async def get(self, request: Request, **kwargs: Any) -> Response:
            try:
                response: Response = await asyncio.wait_for(
                    routed(self, request, **kwargs), service.timeouts.forward_seconds
                )
            except ServiceUnavailable:  # no owner known for the key's partition
                return _error(self, _Unavailable("the owner of this interaction is not known now"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                return _error(self, _Unavailable(f"the owner did not answer ({_why(exc)})"))
            return response

        async def patch(self, request: Request, **kwargs: Any) -> Response:
            denied = bearer.check(self, request, SCOPE_INTERACTION_WRITE)
            if denied is not None:
                return denied
            interaction_id = str(kwargs["id"])
            try:
                body = await _json_object(request, "a JSON merge patch")
                for name in NOT_PATCHABLE:
                    if name in body:
                        raise _BadRequest("notPatchable", f"{name} cannot be patched")
                others = sorted(set(body) - PATCHABLE)
                if others:
                    raise _BadRequest(
                        "notPatchable",
                        f"{others[0]} cannot be patched; patchable: "
                        + ", ".join(sorted(PATCHABLE - {"@type", "@baseType", "@schemaLocation"})),
                    )
                removed = sorted(k for k, v in body.items() if v is None)
                if removed:
                    raise _BadRequest("notPatchable", f"{removed[0]} cannot be removed")
                try:
                    change = PartyInteractionPatch.model_validate(body)
                except ValidationError as exc:
                    raise _BadRequest("invalidBody", validation_message(exc)) from None
                current, _ = await service.fetch(interaction_id)
                if current is None:
                    return _not_found(self, interaction_id)
                if change.status == "inProgress" and current.get("subStatus") == "closed":
                    return tmf_error(
                        self,
                        409,
                        "conflict",
                        "Conflict",
                        f"the partyInteraction is {current['status']}: it cannot be reopened",
                    )
                # After everything known of the interaction: a patch changes what is there.
                at_ms = max(service.now_ms(), _last_update_ms(current) + 1)
                command_id = str(uuid.uuid4())
                data = change.command_data(interaction_id).model_dump(mode="json", by_alias=True)
                await service.send(
                    InteractionCommand(
                        command="apply",
                        type="cim.api.patch",
                        data=data,
                        interaction_id=interaction_id,
                        command_id=command_id,
                        time=_moment(at_ms),
                    )
                )
            except (_BadRequest, _Unavailable) as exc:
                return _error(self, exc)
            fields = _fields(request)
            deadline = time.monotonic() + service.timeouts.patch_wait_seconds
            last = current
            delay = 0.01  # 10, 20, 40 ms ... then every poll_seconds: the stage is quick
            while time.monotonic() < deadline:
                try:
                    seen, applied = await service.fetch(interaction_id, command_id)
                except _Unavailable:
                    seen, applied = None, False
                if seen is not None:
                    last = seen
                if applied and seen is not None:
                    return self.json(q.project(seen, fields))
                await asyncio.sleep(delay)
                delay = min(delay * 2, service.timeouts.poll_seconds)
            return self.json(q.project(last, fields), status=202)

    app.page(f"{BASE_PATH}/partyInteraction", name="tmf683-party-interactions")(PartyInteractions)
    app.page(f"{BASE_PATH}/partyInteraction/{{id}}", name="tmf683-party-interaction")(
        PartyInteractionEntry
    )
    return service


def _web_error(view: View, exc: Any) -> Response:
    """Faust's web errors (a 503 from table_route, a 405) in the TMF error format."""
    status = int(getattr(exc, "code", 500))
    detail = str(getattr(exc, "detail", "") or exc)
    headers = {"Retry-After": "1"} if status == 503 else None
    reason = {404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}.get(
        status, "Error"
    )
    code = {405: "methodNotAllowed", 503: "unavailable"}.get(status, "error")
    return tmf_error(view, status, code, reason, detail, headers=headers)
