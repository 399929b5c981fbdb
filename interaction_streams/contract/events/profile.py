"""Customer profile events (compacted topic ``cim.customer.profile.v1``, family ``profile``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.agent import MediaChannel

Purpose = Literal["marketing", "service", "alert", "collections", "queue-position", "callback"]


class SocialHandle(WireModel):
    platform: str = Field(min_length=1, max_length=64)
    handle: str = Field(min_length=1, max_length=256)


class Consent(WireModel):
    channel: MediaChannel
    purpose: Purpose
    granted: bool


class ProfileErased(WireModel):
    """A party erasure request: the party leaves every table."""

    party_id: str = Field(min_length=1, max_length=128)

    def routing_key(self) -> str:
        return self.party_id


class CustomerProfile(ProfileErased):
    """The whole profile of a party (each update replaces the previous one)."""

    party_type: Literal["individual", "organization"] = "individual"
    name: str | None = Field(default=None, max_length=256)
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    social_handles: tuple[SocialHandle, ...] = ()
    login_ids: tuple[str, ...] = ()
    language: str | None = Field(default=None, max_length=35)
    time_zone: str | None = Field(default=None, max_length=64)
    tier: str | None = Field(default=None, max_length=64)
    segment: str | None = Field(default=None, max_length=64)
    service_area: str | None = Field(default=None, max_length=128)
    consents: tuple[Consent, ...] = ()
    do_not_contact: bool = False


PROFILE_EVENT_TYPES: dict[str, type[ProfileErased]] = {
    "cim.customer.profile.updated": CustomerProfile,
    "cim.customer.profile.erased": ProfileErased,
}
