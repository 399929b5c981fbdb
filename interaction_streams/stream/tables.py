"""Table options shared by every stage."""

from __future__ import annotations

from typing import Any

import faust
from pydantic import BaseModel

from interaction_streams.settings import Settings
from interaction_streams.stream.codec import ModelCodec


def table_options(settings: Settings) -> dict[str, Any]:
    """Cap RocksDB per partition database (Faust's defaults: 2 GiB cache, 3 x 64 MiB buffers)."""
    if settings.store != "rocksdb://":
        return {}
    return {
        "block_cache_size": settings.rocksdb_block_cache_mb * 1024 * 1024,
        "write_buffer_size": settings.rocksdb_write_buffer_mb * 1024 * 1024,
        "max_write_buffer_number": 2,
    }


class StageTable(faust.Table[Any, Any]):
    """A Faust table whose changelog is named after the application (``changelog_prefix``),
    not the consumer group (Faust's default), which differs when the stages are split."""

    changelog_prefix: str | None = None

    def _changelog_topic_name(self) -> str:
        if self.changelog_prefix is None:
            return str(super()._changelog_topic_name())
        return f"{self.changelog_prefix}-{self.name}-changelog"


def stage_table_class(settings: Settings) -> type[StageTable]:
    """The table class of a worker (Faust's ``Table`` setting): the changelog name is needed
    when the table is declared."""
    return type("StageTable", (StageTable,), {"changelog_prefix": settings.changelog_prefix})


def model_table(
    app: faust.App,
    name: str,
    model: type[BaseModel],
    settings: Settings,
    key_type: type = bytes,
    **kwargs: Any,
) -> Any:
    """A table with pydantic values (orjson codec) in its changelog.

    Keys are raw ``bytes``, or with ``key_type=str`` JSON strings: the encoding of the
    stage topics, which ``app.table_route`` assumes when it forwards a web request.
    """
    table = app.Table(name, key_type=key_type, options=table_options(settings), **kwargs)
    # Faust derives serializers from key_type/value_type; a pydantic model has none. The
    # store, created lazily at start, takes the codec then; the changelog topic already
    # exists (declared with the table), but Faust passes the table's codec with each send.
    table.value_serializer = ModelCodec(model)  # type: ignore[attr-defined]
    return table
