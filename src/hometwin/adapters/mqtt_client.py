"""The MQTT connection (paho-mqtt 2): a persistent QoS 1 session whose messages are acknowledged by
the caller, after it stored them.

MQTT 5 with `clean_start=False` and a session expiry: while the ingest is away (a restart, an
update) the broker keeps its subscriptions and queues the QoS 1 messages for it. Acknowledgements are
manual (`ack`), and only for messages of the current connection: after a disconnect the broker
sends every unacknowledged message again (with the DUP flag), so a late ack is dropped rather than
sent on a new connection. paho reconnects by itself with a capped backoff. Receive Maximum bounds
how many unacknowledged messages the broker sends at once, so a stalled consumer cannot fill memory.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttOptions:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    client_id: str = "hometwin-ingest"
    session_expiry_seconds: int = 7 * 24 * 3600
    keepalive: int = 30
    receive_maximum: int = 200

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MqttOptions:
        """`mqtt://host[:1883]` or `mqtts://host[:8883]` (TLS)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"MQTT URL {url!r}: write mqtt://host:port or mqtts://host:port (TLS)")
        if not parts.hostname:
            raise ValueError(f"MQTT URL {url!r} names no host")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"MQTT URL {url!r}: the port is not a number from 1 to 65535") from None
        tls = scheme == "mqtts"
        return cls(parts.hostname, port or (8883 if tls else 1883), tls, **options)


def tls_context(options: MqttOptions) -> ssl.SSLContext:
    """Verifying by default (system CAs, or `ca_file` for a private broker's certificate)."""
    try:
        context = ssl.create_default_context(cafile=str(options.ca_file) if options.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot read the MQTT CA file {options.ca_file}: {exc}") from None
    if not options.verify_tls:  # an explicit opt-out, named in the settings
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received message, with what is needed to acknowledge it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    mid: int
    connection: int  # which connection brought it: only that one may acknowledge it
    received: datetime


class MqttSubscriber:
    """Subscribes `topics` with QoS 1 and hands every message to `on_message` (in paho's thread)."""

    def __init__(self, options: MqttOptions, topics: Sequence[str], on_message: Callable[[Delivery], None]) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.options, self.topics, self._on_message = options, list(topics), on_message
        self._lock = threading.Lock()
        self._connection = 0
        self.connected = False
        self._stopping = False
        self._last_failure_log = 0.0
        self.last_error = "not connected yet"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=options.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            client.tls_set_context(tls_context(options))
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._connected
        client.on_connect_fail = self._connect_failed
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        self.client = client

    def start(self) -> None:
        """Connect in the background (paho's thread retries until the broker answers)."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.options.session_expiry_seconds
        properties.ReceiveMaximum = self.options.receive_maximum
        self.client.connect_async(self.options.host, self.options.port, keepalive=self.options.keepalive,
                                  clean_start=False, properties=properties)
        self.client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge a stored message; False (nothing sent) when its connection is gone."""
        if delivery.qos == 0:
            return True
        with self._lock:
            if delivery.connection != self._connection or not self.connected:
                return False
            self.client.ack(delivery.mid, delivery.qos)
            return True

    # -- paho callbacks (its network thread) -------------------------------------------------------

    def _connected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"the broker refused the connection: {reason}"
            log.error("MQTT %s:%s: %s", self.options.host, self.options.port, self.last_error)
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        with self._lock:
            self._connection += 1
            self.connected = True
        self.last_error = ""
        log.info("MQTT connected to %s:%s (session %s)", self.options.host, self.options.port,
                 "resumed" if flags.session_present else "new")
        # Retained messages only for a new subscription: a resumed one would replay old states.
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe([(topic, options) for topic in self.topics])

    def _connect_failed(self, client: Any, userdata: Any) -> None:
        # paho does not say why; ask once more ourselves, so the log and /status can.
        self.last_error = f"cannot connect to {self.options.host}:{self.options.port}: {self._why_not()}"
        if time.monotonic() - self._last_failure_log > 60:
            log.error("MQTT %s; retrying", self.last_error)
            self._last_failure_log = time.monotonic()

    def _why_not(self) -> str:
        try:
            with socket.create_connection((self.options.host, self.options.port), timeout=5) as sock:
                if self.options.tls:
                    with tls_context(self.options).wrap_socket(sock, server_hostname=self.options.host):
                        pass
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            return str(exc) or type(exc).__name__
        return "the broker closed the connection"

    def _disconnected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._lock:
            self._connection += 1  # acks still pending belong to the old connection
            was_connected, self.connected = self.connected, False
        if not was_connected:
            return  # a refused or failed connection: its own callback said why
        self.last_error = f"disconnected: {reason}"
        if self._stopping:
            log.info("MQTT disconnected from %s:%s", self.options.host, self.options.port)
        else:
            log.warning("MQTT disconnected from %s:%s (%s); reconnecting", self.options.host, self.options.port,
                        reason)

    def _message(self, client: Any, userdata: Any, message: Any) -> None:
        self._on_message(Delivery(message.topic, bytes(message.payload), int(message.qos), bool(message.retain),
                                  bool(message.dup), int(message.mid), self._connection, datetime.now(UTC)))


def fetch_retained(options: MqttOptions, topic: str, timeout: float = 5.0) -> bytes | None:
    """The retained message of `topic` (e.g. Zigbee2MQTT's device list), or None within `timeout`.

    A throwaway clean session with its own client id, so the ingest's session is not touched."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{options.client_id}-probe", protocol=mqtt.MQTTv5)
    if options.username is not None:
        client.username_pw_set(options.username, options.password)
    if options.tls:
        client.tls_set_context(tls_context(options))
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)

    def message(c: Any, userdata: Any, msg: Any) -> None:
        got.append(bytes(msg.payload))
        done.set()

    client.on_message = message
    try:
        client.connect(options.host, options.port, keepalive=options.keepalive)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectionError(f"cannot reach the MQTT broker {options.host}:{options.port}: {exc}") from exc
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None
