"""An orjson + pydantic codec for Faust topics and tables."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import orjson
from faust.serializers.codecs import Codec
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class ModelCodec(Codec, Generic[M]):
    """Serialises one pydantic model as camelCase JSON with orjson; loads validate it."""

    def __init__(self, model: type[M], **kwargs: Any) -> None:
        super().__init__(model=model, **kwargs)
        self.model = model

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, BaseModel):  # serialised to JSON in pydantic-core, not via dicts
            return obj.model_dump_json(by_alias=True, exclude_none=True).encode()
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> M:
        return self.model.model_validate_json(s)

    def clone(self, *children: Any) -> ModelCodec[M]:
        return self.__class__(self.model)
