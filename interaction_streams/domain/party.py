"""Party identification: normalised contact addresses, and stable prospect ids."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import phonenumbers

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.channel import Contact
from interaction_streams.contract.events.profile import CustomerProfile

DEFAULT_REGION = "GB"  # for national phone numbers without a country code


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 (``+442079460018``), or None when it is not a possible phone number."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def contact_keys(contact: Contact, region: str = DEFAULT_REGION) -> list[str]:
    """Index keys of a contact, most specific first: login, phone, email, social handle."""
    keys = []
    if contact.login_id:
        keys.append(f"login:{contact.login_id}")
    if contact.phone and (phone := normalise_phone(contact.phone, region)):
        keys.append(f"tel:{phone}")
    if contact.email:
        keys.append(f"email:{contact.email.strip().lower()}")
    if contact.social_handle and contact.social_platform:
        handle = contact.social_handle.strip().lstrip("@").lower()
        keys.append(f"social:{contact.social_platform.strip().lower()}/{handle}")
    return keys


def profile_keys(profile: CustomerProfile, region: str = DEFAULT_REGION) -> set[str]:
    """Every index key under which a profile's party can be found."""
    keys: set[str] = set()
    for phone in profile.phones:
        keys.update(contact_keys(Contact(phone=phone), region))
    for email in profile.emails:
        keys.update(contact_keys(Contact(email=email), region))
    for social in profile.social_handles:
        keys.update(
            contact_keys(Contact(social_platform=social.platform, social_handle=social.handle))
        )
    for login in profile.login_ids:
        keys.update(contact_keys(Contact(login_id=login), region))
    return keys


def prospect_id(key: str) -> str:
    """A stable party id for an unknown contact: the same address always gives the same id."""
    return "prospect-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def resolve(
    explicit_party: str | None,
    contact: Contact | None,
    lookup: Callable[[str], str | None],
    region: str = DEFAULT_REGION,
) -> tuple[str | None, Literal["customer", "prospect"] | None, str | None]:
    """(party id, role, contact key) of an inbound contact.

    A party id sent by the platform wins; else the first contact key the index knows;
    else a prospect whose id derives from the most specific contact key.
    """
    keys = contact_keys(contact, region) if contact is not None else []
    first_key = keys[0] if keys else None
    if explicit_party:
        return explicit_party, "customer", first_key
    for key in keys:
        party = lookup(key)
        if party:
            return party, "customer", key
    if first_key:
        return prospect_id(first_key), "prospect", first_key
    return None, None, None


MAX_LINKED_INTERACTIONS = 1000  # the newest ids a party keeps, for erasure


class PartyRecord(WireModel):
    """What the party stage keeps per party: its index keys and its interactions."""

    contact_keys: tuple[str, ...] = ()
    interaction_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartyStep:
    record: PartyRecord | None  # None: remove the party
    index_set: tuple[str, ...] = ()  # contact keys that now point to this party
    index_removed: tuple[str, ...] = ()  # contact keys that no longer do
    erase: tuple[str, ...] = ()  # interactions to erase


def on_profile(
    record: PartyRecord | None, profile: CustomerProfile, region: str = DEFAULT_REGION
) -> PartyStep:
    old = set(record.contact_keys) if record else set()
    new = profile_keys(profile, region)
    kept = record or PartyRecord()
    return PartyStep(
        kept.model_copy(update={"contact_keys": tuple(sorted(new))}),
        index_set=tuple(sorted(new)),  # all of them: re-sending is harmless on a compacted topic
        index_removed=tuple(sorted(old - new)),
    )


def on_erasure(record: PartyRecord | None) -> PartyStep:
    if record is None:
        return PartyStep(None)
    return PartyStep(None, index_removed=record.contact_keys, erase=record.interaction_ids)


def on_link(record: PartyRecord | None, interaction_id: str, linked: bool) -> PartyRecord:
    current = record or PartyRecord()
    ids = tuple(i for i in current.interaction_ids if i != interaction_id)
    if linked:
        ids = (*ids, interaction_id)[-MAX_LINKED_INTERACTIONS:]
    return current.model_copy(update={"interaction_ids": ids})
