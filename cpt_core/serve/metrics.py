"""Prometheus metrics of one server: its own registry, so two servers in a process (tests)
never share counters."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cpt_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cpt_request_seconds",
            "Request latency by route",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.batch_texts = Histogram(
            "cpt_batch_texts",
            "Texts per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        self.batch_tokens = Histogram(
            "cpt_batch_tokens",
            "Tokens per forward pass (without padding)",
            buckets=(16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536),
            registry=self.registry,
        )
        self.refused = Counter(
            "cpt_refused",
            "Requests refused before their body was read, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "cpt_queue_depth", "Texts queued or being embedded", registry=self.registry
        )

    def track_queue(self, depth: Callable[[], int]) -> None:
        self.queue_depth.set_function(depth)

    def track_follower(self, errors: Callable[[], int]) -> None:
        """cpt_follow_errors: how often following the registry has failed so far."""
        gauge = Gauge(
            "cpt_follow_errors",
            "Failed reads of the followed registry or loads of its current model",
            registry=self.registry,
        )
        gauge.set_function(errors)

    def batch(self, texts: int, tokens: int) -> None:
        self.batch_texts.observe(texts)
        self.batch_tokens.observe(tokens)

    def track_model(self, current: Callable[[], tuple[str, str, str]]) -> None:
        """cpt_model_info{name, identity, dtype} 1, read from the holder at each scrape."""
        self.registry.register(_ModelInfo(current))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ModelInfo(Collector):
    def __init__(self, current: Callable[[], tuple[str, str, str]]):
        self.current = current

    def collect(self):
        family = GaugeMetricFamily(
            "cpt_model_info",
            "The model being served (1): its vector space and the precision it computes in",
            labels=["name", "identity", "dtype"],
        )
        family.add_metric(list(self.current()), 1)
        yield family
