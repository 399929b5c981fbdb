"""An entry of the contact index (compacted topic ``cim.party.contact-index.v1``)."""

from __future__ import annotations

from interaction_streams.contract.base import WireModel


class ContactIndexEntry(WireModel):
    party_id: str
