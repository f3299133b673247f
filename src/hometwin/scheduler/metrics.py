"""Prometheus metrics of one scheduler app (own registry, so several apps can live in one process)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class SchedulerMetrics:
    def __init__(self, outbox_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("hometwin_scheduler_events_received", "Events accepted (committed).",
                              ["subscribed"], registry=r)
        self.delivered = Counter("hometwin_scheduler_invocations_delivered",
                                 "Invocations delivered (2xx) or completed as mock.", ["function"],
                                 registry=r)
        self.retried = Counter("hometwin_scheduler_invocations_retried",
                               "Delivery attempts that failed and were scheduled again.", ["function"],
                               registry=r)
        self.dead = Counter("hometwin_scheduler_invocations_dead",
                            "Invocations moved to the dead-letter list.", ["function"], registry=r)
        self.auto_replayed = Counter("hometwin_scheduler_invocations_auto_replayed",
                                     "Exhausted dead invocations replayed automatically when their "
                                     "function delivered again.", ["function"], registry=r)
        self.dropped = Counter("hometwin_scheduler_events_dropped",
                               "Queued events removed without a join (expired, unsubscribed, deleted).",
                               ["reason"], registry=r)
        self.latency = Histogram("hometwin_scheduler_end_to_end_seconds",
                                 "From the event completing a join to its invocation's 2xx answer.",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.depth = Gauge("hometwin_scheduler_outbox_depth",
                           "Invocations not yet delivered (waiting, in flight or backing off).", registry=r)
        self.depth.set_function(outbox_depth)
        self._delivered: dict[str, Counter] = {}
        self.events_subscribed = self.events.labels("true")
        self.events_unsubscribed = self.events.labels("false")
        self.batch = Histogram("hometwin_scheduler_commit_batch_size", "Commands per group commit.",
                               buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=r)

    def delivered_for(self, function: str) -> Counter:
        """The labelled child, cached: the label lookup is measurable on the hot path."""
        child = self._delivered.get(function)
        if child is None:
            child = self._delivered[function] = self.delivered.labels(function)
        return child
