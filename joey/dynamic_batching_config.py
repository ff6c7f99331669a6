"""``DynamicBatchingConfig``: merge concurrent requests to one model into one batch."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DynamicBatchingConfig(BaseModel):
    """Wallaroo's dynamic batching: wait up to ``max_batch_delay_ms`` for up to
    ``batch_size_target`` requests, then run them as one batch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_batch_delay_ms: int = Field(default=10, ge=0)
    batch_size_target: int = Field(default=4, ge=1)
    batch_size_limit: int | None = Field(default=None, ge=1)
