"""Service-area membership, in buckets, so that an incident reaches exactly the customers of
its area without scanning every customer."""

from __future__ import annotations

import zlib

from interaction_streams.contract.base import WireModel

BUCKETS = 16  # members of an area are spread over this many table entries


class AreaBucket(WireModel):
    parties: tuple[str, ...] = ()


def bucket_key(area: str, party_id: str) -> str:
    return f"{area}#{zlib.crc32(party_id.encode()) % BUCKETS}"


def bucket_keys(area: str) -> list[str]:
    return [f"{area}#{n}" for n in range(BUCKETS)]


def join(bucket: AreaBucket | None, party_id: str) -> AreaBucket:
    current = bucket or AreaBucket()
    if party_id in current.parties:
        return current
    return AreaBucket(parties=tuple(sorted((*current.parties, party_id))))


def leave(bucket: AreaBucket | None, party_id: str) -> AreaBucket | None:
    """The bucket without the party; None when it becomes empty."""
    if bucket is None:
        return None
    parties = tuple(p for p in bucket.parties if p != party_id)
    return AreaBucket(parties=parties) if parties else None
