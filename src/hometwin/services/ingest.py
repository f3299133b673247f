"""The live ingest: MQTT messages -> durable local buffer -> the event store.

Three threads, so neither a slow store nor a slow disk holds up the others:
- paho's network thread hands each message to an in-memory inbox (bounded by the broker's Receive
  Maximum: the broker sends no more unacknowledged messages than that);
- the writer reads a batch from the inbox, turns it into events (adapters/mqtt.py), commits them to
  the buffer in one transaction, and only then acknowledges the messages (QoS 1);
- the flusher moves events from the buffer to the store (any SensorSink) and deletes them only after
  the store accepted them; while the store is down it retries with a capped backoff.

So an acknowledged message is on disk, and a message not yet on disk is redelivered by the broker.
Redelivered copies produce identical events (the payload's time, or the receive time remembered in
the buffer's receipts), which the store's idempotent write drops.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from hometwin.adapters.ingest_buffer import BufferFull, IngestBuffer, Receipt, digest
from hometwin.adapters.mqtt import Outcome, TimeSource, TopicRouter
from hometwin.adapters.mqtt_client import Delivery
from hometwin.ports import PortError, SensorSink

log = logging.getLogger(__name__)

WRITE_BATCH = 500      # messages per buffer transaction (one fsync)
FLUSH_BATCH = 5_000    # events per store write
BACKOFF_MAX = 30.0
MAX_LOGGED_TOPICS = 1_000  # unknown topics logged by name; past this only counted
FAILURE_LOG_EVERY = 60.0  # seconds between two log lines about the same store outage


class _Stopping(Exception):
    """Raised inside the writer when the service stops with a batch not yet buffered."""


class IngestMetrics:
    """Prometheus metrics of one ingest (own registry, so tests can run several in one process)."""

    def __init__(self, buffer_depth: Callable[[], float], connected: Callable[[], float]) -> None:
        self.registry = r = CollectorRegistry()
        self.messages = Counter("hometwin_ingest_messages", "MQTT messages received, by what became of them "
                                "(event, unchanged, ignored, unknown, retained, bad).", ["outcome"], registry=r)
        self.events = Counter("hometwin_ingest_events", "Events buffered, by where their time came from "
                              "(payload or receive).", ["time_source"], registry=r)
        self.redelivered = Counter("hometwin_ingest_redelivered", "Messages the broker sent again (DUP flag).",
                                   registry=r)
        self.stored = Counter("hometwin_ingest_stored", "Events the store accepted (new or already there).",
                              registry=r)
        self.store_failures = Counter("hometwin_ingest_store_failures", "Failed writes to the store.", registry=r)
        self.depth = Gauge("hometwin_ingest_buffer_events", "Events waiting in the local buffer for the store.",
                           registry=r)
        self.depth.set_function(buffer_depth)
        self.up = Gauge("hometwin_ingest_connected", "1 while connected to the MQTT broker.", registry=r)
        self.up.set_function(connected)


@dataclass
class IngestStatus:
    connected: bool
    buffered: int
    store_error: str
    broker_error: str
    counts: dict[str, int] = field(default_factory=dict)


class IngestService:
    """Runs the writer and the flusher around a subscriber; `subscriber_factory(on_message)` builds the
    MQTT connection (adapters/mqtt_client.py `MqttSubscriber`)."""

    def __init__(self, router: TopicRouter, buffer: IngestBuffer, sink: SensorSink,
                 subscriber_factory: Callable[[Callable[[Delivery], None]], Any], *, warn_at: int = 1_000) -> None:
        self.router, self.buffer, self.sink = router, buffer, sink
        self.subscriber = subscriber_factory(self._inbox_put)
        self.warn_at = warn_at
        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unknown: set[str] = set()
        self._next_warning = warn_at
        self.store_error = ""
        self._last_failure_log = 0.0
        self.counts: dict[str, int] = {}
        self._counts_lock = threading.Lock()
        self.metrics = IngestMetrics(lambda: self.buffer.depth, lambda: float(self.connected))

    @property
    def connected(self) -> bool:
        return bool(getattr(self.subscriber, "connected", False))

    def start(self) -> None:
        self.buffer.open()
        if self.buffer.depth:
            log.info("ingest buffer %s holds %d events from before; writing them to the store",
                     self.buffer.path, self.buffer.depth)
        self._stopping.clear()
        for name, target in (("ingest-writer", self._write_loop), ("ingest-flusher", self._flush_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.subscriber.start()

    def stop(self) -> None:
        """Disconnect, then stop the threads. Messages not yet buffered were not acknowledged: the
        broker sends them again next time."""
        self.subscriber.stop()
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=BACKOFF_MAX + 5)
        self._threads.clear()
        self.buffer.close()

    def status(self) -> IngestStatus:
        with self._counts_lock:
            counts = dict(self.counts)
        return IngestStatus(self.connected, self.buffer.depth, self.store_error,
                            getattr(self.subscriber, "last_error", ""), counts)

    def _inbox_put(self, delivery: Delivery) -> None:
        self._inbox.put(delivery)

    def _count(self, what: str, n: int = 1) -> None:
        with self._counts_lock:  # the writer and the flusher both count; status() copies
            self.counts[what] = self.counts.get(what, 0) + n

    # -- writer: inbox -> buffer -> ack ---------------------------------------------------------------

    def _write_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = [self._inbox.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except _Stopping:
                return  # not acknowledged: the broker sends the batch again next time
            except Exception:  # noqa: BLE001 - the writer must outlive any one bad batch
                log.exception("ingest: a batch of %d messages failed; they stay unacknowledged", len(batch))

    def _write(self, batch: list[Delivery]) -> None:
        events, receipts = [], []
        for delivery in batch:
            received = delivery.received
            payload_digest = digest(delivery.payload)
            if delivery.dup:
                self.metrics.redelivered.inc()
                received = self.buffer.receipt(delivery.topic, payload_digest) or received
            reading = self.router.read(delivery.topic, delivery.payload, received, retained=delivery.retain)
            self.metrics.messages.labels(reading.outcome.value).inc()
            self._count(reading.outcome.value)
            if reading.outcome is Outcome.UNKNOWN:
                self._log_unknown(delivery.topic)
            elif reading.outcome is Outcome.BAD:
                log.warning("ingest: %s: %s", delivery.topic, reading.detail)
            if reading.event is None or reading.time_source is None:
                continue
            events.append((reading.event, reading.time_source.value))
            self.metrics.events.labels(reading.time_source.value).inc()
            if reading.time_source is TimeSource.RECEIVE:
                receipts.append(Receipt(delivery.topic, payload_digest, reading.event.time))
        self._commit(events, receipts)
        for delivery in batch:
            self.subscriber.ack(delivery)
        if events:
            self._wake.set()

    def _commit(self, events: list[Any], receipts: list[Receipt]) -> None:
        """Put into the buffer, waiting while it is full or failing (nothing is acknowledged meanwhile)."""
        delay = 0.5
        while True:
            try:
                self.buffer.put(events, receipts)
            except BufferFull as exc:
                log.warning("ingest: %s; not taking messages until the store catches up", exc)
            except PortError as exc:
                log.error("ingest: %s; retrying", exc)
            else:
                self._warn_growth()
                return
            if self._stopping.wait(delay):
                raise _Stopping
            delay = min(delay * 2, BACKOFF_MAX)

    def _warn_growth(self) -> None:
        depth = self.buffer.depth
        if depth >= self._next_warning:
            log.warning("ingest buffer holds %d events (limit %d): the store is not keeping up or is down (%s)",
                        depth, self.buffer.limit, self.store_error or "no error yet")
            self._next_warning = max(self._next_warning * 2, depth + 1)

    def _log_unknown(self, topic: str) -> None:
        if topic in self._unknown or len(self._unknown) > MAX_LOGGED_TOPICS:
            return
        self._unknown.add(topic)
        if len(self._unknown) > MAX_LOGGED_TOPICS:
            log.warning("ingest: more than %d unknown topics; counting the rest without naming them",
                        MAX_LOGGED_TOPICS)
        else:
            log.warning("ingest: topic %r is not in the mapping; its messages are counted and dropped "
                        "(docs/home-assistant.md says how to map it)", topic)

    # -- flusher: buffer -> store ---------------------------------------------------------------------

    def _flush_loop(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                rows = self.buffer.peek(FLUSH_BATCH)
            except PortError as exc:
                log.error("ingest: %s", exc)
                self._stopping.wait(delay)
                continue
            if not rows:
                self._wake.wait(1.0)
                continue
            try:
                self.sink.append([row.event for row in rows])
            except Exception as exc:  # noqa: BLE001 - any store failure: keep the events, retry
                self.metrics.store_failures.inc()
                if not self.store_error or time.monotonic() - self._last_failure_log > FAILURE_LOG_EVERY:
                    # Repeated now and then: a store that refuses for good (a missing InfluxDB bucket)
                    # must stay visible in the log, not only the first time.
                    log.warning("ingest: the store refused %d events, keeping them in the buffer (%d): %s",
                                len(rows), self.buffer.depth, exc)
                    self._last_failure_log = time.monotonic()
                self.store_error = str(exc) or type(exc).__name__
                self._stopping.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            try:
                self.buffer.remove(rows[-1].id, datetime.now(UTC))
            except PortError as exc:  # written twice later at worst: the store drops the copies
                log.error("ingest: %s", exc)
                continue
            self.metrics.stored.inc(len(rows))
            self._count("stored", len(rows))
            delay = 0.5
            if self.store_error:
                log.info("ingest: the store is back; %d events written, %d still buffered",
                         len(rows), self.buffer.depth)
                self.store_error = ""
            if self.buffer.depth == 0 and self._next_warning > self.warn_at:
                log.info("ingest buffer drained")
                self._next_warning = self.warn_at


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until true or `timeout` seconds passed (for the CLI's --check and the tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
