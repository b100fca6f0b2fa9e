"""What `cpt serve` can be told: where it listens, and the limits that keep it bounded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    dtype: str = "auto"  # auto: bfloat16 where the hardware is fast at it, else float32
    max_length: int | None = None  # token cap per input; the model's own by default
    # padded tokens (longest x count) per forward pass; None: what measured best on the device
    # (cpt_core/model/token_batches.py: 1024 on CPU, 16384 on a GPU)
    max_batch_tokens: int | None = Field(None, ge=1)
    queue_capacity: int = Field(8192, ge=1)  # texts queued or running before 429
    max_request_tokens: int = Field(300_000, ge=1)  # tokens one request may bring
    # request bodies beyond this are 413. 300,000 tokens (the request cap) took at most 2.8 MB
    # of JSON on real text, code and multilingual pages (bench/request_bytes.py): 3x room
    max_body_bytes: int = Field(8 << 20, ge=1024)
    max_concurrent_requests: int = Field(512, ge=1)  # in flight at once; beyond it a 503
    public_metrics: bool = False  # /metrics without a key (only /health is public otherwise)
    poll_seconds: float = Field(2.0, gt=0)  # how often a followed registry is read
    # how long a replaced model still answers to NAME@VERSION (holder.py); 0: at once a 404
    version_grace_seconds: float = Field(300.0, ge=0)

    def batch_tokens(self) -> int:
        from cpt_core.model.token_batches import default_batch_tokens

        return self.max_batch_tokens or default_batch_tokens()
