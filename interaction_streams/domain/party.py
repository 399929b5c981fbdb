"""Party identification: normalised contact addresses, and stable prospect ids."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Literal

import phonenumbers

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
