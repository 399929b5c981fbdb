"""Shared pydantic configuration for every wire model."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Immutable, camelCase on the wire, snake_case in Python.

    Unknown fields are ignored so that producers can add fields without
    breaking older workers (forward compatibility).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
    )
