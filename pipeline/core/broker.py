"""RabbitMQ access: the only module that knows pika.

One pika connection per thread, always: pika's BlockingConnection is not
thread-safe, and the only call another thread may make on it is
``add_callback_threadsafe``. Every role runs its broker work inside
``run_reconnecting``, which connects (trying each configured URL in turn),
declares the topology again, and after any connection loss waits with a capped
exponential backoff before it tries again, until the stop event is set.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from pipeline.core.backoff import Backoff
from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import BrokerConfig
from pipeline.core.messages import CONTENT_TYPE
from pipeline.core.reload import CameraChanges, ConfigWatcher
from pipeline.core.topology import Topology
from pipeline.core.urls import TLS_PARAMETERS, redact_url

LOGGER = logging.getLogger(__name__)

# A session that stayed up this long counts as a success: the backoff starts over.
HEALTHY_SESSION_S = 5.0
TRANSIENT = 1
PERSISTENT = 2
PRECONDITION_FAILED = 406
QUEUE_NOT_FOUND = 404
DEAD_LETTER_MAX_BYTES = 64 * 1024
# Frame queues are transient: their few frames are worthless a second later, and
# in a cluster a transient queue whose node is lost is dropped, so that roles
# moving to another node declare it there afresh. (A durable one would stay
# behind, "home node down", and refuse every declaration until the node returned.)
FRAME_QUEUES_DURABLE = False

Connection = pika.BlockingConnection
Channel = BlockingChannel
BrokerError = pika.exceptions.AMQPError
ChannelClosedByBroker = pika.exceptions.ChannelClosedByBroker


def tls_options(url: str) -> tuple[str, pika.SSLOptions | None]:
    """Split RabbitMQ's URI TLS query parameters off a URL; build pika's options.

    ``amqps://user:pass@host/vhost?cacertfile=ca.pem&certfile=c.pem&keyfile=k.pem``
    (the names of RabbitMQ's URI spec): the broker's certificate is verified
    against ``cacertfile`` (else the system's CAs) and its host name, unless
    ``verify=verify_none``; ``server_name_indication`` names the host to expect
    when it differs from the URL's. pika itself would refuse these parameters.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in query if key in TLS_PARAMETERS}
    rest = urlencode([(key, value) for key, value in query if key not in TLS_PARAMETERS])
    stripped = urlunsplit(parts._replace(query=rest))
    if parts.scheme != "amqps":
        return stripped, None
    context = ssl.create_default_context(cafile=ours.get("cacertfile") or None)
    if ours.get("certfile"):
        context.load_cert_chain(ours["certfile"], ours.get("keyfile") or None)
    if ours.get("verify") == "verify_none":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    server_name = ours.get("server_name_indication") or parts.hostname
    return stripped, pika.SSLOptions(context, server_name)


def url_parameters(configured: str, broker: BrokerConfig, name: str) -> pika.URLParameters:
    """pika's parameters for one configured URL (TLS options included)."""
    url, tls = tls_options(configured)
    params = pika.URLParameters(url)
    if tls is not None:
        params.ssl_options = tls
    params.heartbeat = broker.heartbeat_s
    # A broker under a resource alarm blocks publishers; give up and reconnect
    # rather than hang a capture loop for ever.
    params.blocked_connection_timeout = max(5.0, 2.0 * broker.heartbeat_s)
    params.socket_timeout = 3.0
    params.stack_timeout = 6.0
    params.connection_attempts = 1
    params.client_properties = {"connection_name": name}
    return params


def connect(broker: BrokerConfig, name: str) -> Connection:
    """Open a blocking connection to the first configured broker that answers."""
    return connect_to_first(broker, name)[0]


def connect_to_first(broker: BrokerConfig, name: str) -> tuple[Connection, str]:
    """The first configured broker that answers, tried in order, and which one it
    was (its URL, password masked): pika tries a list the same way but keeps to
    itself which one it reached."""
    failure: pika.exceptions.AMQPConnectionError | None = None
    for url in broker.urls:
        try:
            return pika.BlockingConnection(url_parameters(url, broker, name)), redact_url(url)
        except pika.exceptions.AMQPConnectionError as error:
            failure = error
    assert failure is not None, "a broker config holds at least one URL"
    raise failure


def preflight(broker: BrokerConfig, file: Path) -> list[str]:
    """Why no configured broker can be used, one ``file: key: message`` per URL; [] if
    one can. ``rabbitcam run`` checks this before it starts anything: a typo'd host,
    a wrong password or a missing vhost is a config error, not a silent retry loop."""
    problems = []
    for index, configured in enumerate(broker.urls):
        key = broker.url_key if len(broker.urls) == 1 else f"{broker.url_key}[{index}]"
        shown = redact_url(configured)
        try:
            pika.BlockingConnection(
                url_parameters(configured, broker, "rabbitcam preflight")
            ).close()
            return []
        except pika.exceptions.ProbableAuthenticationError:
            reason = "the broker refused the login (wrong user or password?)"
        except pika.exceptions.ProbableAccessDeniedError:
            reason = "the broker refused the virtual host (missing, or no permissions?)"
        except socket.gaierror:
            reason = f"host {urlsplit(configured).hostname!r} does not resolve"
        except ssl.SSLError as error:
            reason = f"TLS failed: {error.reason or error}"
        except (BrokerError, OSError, ValueError) as error:
            reason = f"no broker answers ({_first_cause(error)})"
        problems.append(f"{file}: {key}: {reason}: {shown}")
    return problems


def _first_cause(error: BaseException) -> str:
    inner = error.args[0] if error.args and isinstance(error.args[0], BaseException) else None
    if inner is not None and inner.args and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    return str(inner or error) or type(error).__name__


def describe_urls(broker: BrokerConfig) -> str:
    return ", ".join(redact_url(url) for url in broker.urls)


def watch_blocked(connection: Connection, role: str) -> threading.Event:
    """An event set while the broker blocks this connection's publishers (resource alarm)."""
    blocked = threading.Event()

    def on_blocked(_connection: Any, method: Any) -> None:
        reason = getattr(method.method, "reason", "")
        LOGGER.warning("%s: broker blocked publishing (%s); dropping frames", role, reason)
        blocked.set()

    def on_unblocked(_connection: Any, _method: Any) -> None:
        LOGGER.info("%s: broker unblocked publishing", role)
        blocked.clear()

    connection.add_on_connection_blocked_callback(on_blocked)
    connection.add_on_connection_unblocked_callback(on_unblocked)
    return blocked


def declare_common(channel: Channel, topology: Topology) -> Channel:
    """Exchanges and the dead-letter queue that every role relies on.

    Returns the channel to go on with: a refused declaration closes a channel,
    and then a fresh one is returned.
    """
    channel.exchange_declare(topology.frames_exchange, "direct", durable=True)
    channel.exchange_declare(topology.results_exchange, "topic", durable=True)
    channel.exchange_declare(topology.events_exchange, "topic", durable=True)
    channel.exchange_declare(topology.status_exchange, "topic", durable=True)
    channel.exchange_declare(topology.footage_exchange, "direct", durable=True)
    channel.exchange_declare(topology.dead_exchange, "fanout", durable=True)
    try:
        channel.queue_declare(
            topology.dead_queue, durable=True, arguments=topology.dead_queue_arguments()
        )
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code != PRECONDITION_FAILED:
            raise
        # A dead-letter queue made by an older version (a classic queue): its
        # letters are the record of bad input, so keep it as it is.
        LOGGER.warning("%s exists with other arguments; using it as it is", topology.dead_queue)
        channel = channel.connection.channel()
    channel.queue_bind(topology.dead_queue, topology.dead_exchange)
    return channel


def declare_topology(
    connection: Connection, topology: Topology, cameras: list[CameraConfig]
) -> None:
    """Declare the common topology and each camera's queues, on a channel of its own.

    A frame queue whose arguments changed (a new bound, ordering switched on)
    cannot be redeclared: RabbitMQ refuses with PRECONDITION_FAILED. Frame
    queues only ever hold a few frames that are worthless a second later, so
    such a queue is deleted and declared afresh.
    """
    channel = declare_common(connection.channel(), topology)
    for camera in cameras:
        frames = topology.frame_queue(camera.id)
        channel = declare_afresh_if_changed(
            channel, frames, FRAME_QUEUES_DURABLE, topology.frame_queue_arguments(camera)
        )
        channel.queue_bind(frames, topology.frames_exchange, routing_key=camera.id)
        events = topology.events_queue(camera.id)
        channel.queue_declare(events, durable=True, arguments=topology.events_queue_arguments())
        channel.queue_bind(events, topology.events_exchange, routing_key=f"{camera.id}.#")
    channel.close()


def declare_afresh_if_changed(
    channel: Channel, queue: str, durable: bool, arguments: dict[str, Any]
) -> Channel:
    """Declare a queue whose content is worthless soon (frames, the recent past); if
    it exists with other arguments, which RabbitMQ refuses to change in place
    (PRECONDITION_FAILED), delete it and declare it afresh. Returns the channel to
    go on with (a refused declaration closes one)."""
    try:
        channel.queue_declare(queue, durable=durable, arguments=arguments)
        return channel
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code != PRECONDITION_FAILED:
            raise
    LOGGER.warning("queue %s changed its arguments; recreating it", queue)
    channel = channel.connection.channel()
    channel.queue_delete(queue)
    channel.queue_declare(queue, durable=durable, arguments=arguments)
    return channel


def declare_kept_queue(
    channel: Channel, queue: str, arguments: dict[str, Any], bindings: list[tuple[str, str]]
) -> Channel:
    """A durable queue of a role's own (the recorder's, an alarm target's), bound as given.

    If it exists with other arguments (a changed bound), it is kept as it is:
    it holds events not yet handled, which matter more than the new bound.
    Returns the channel to go on with (a refused declaration closes one).
    """
    try:
        channel.queue_declare(queue, durable=True, arguments=arguments)
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code != PRECONDITION_FAILED:
            raise
        LOGGER.warning(
            "%s exists with other arguments; using it as it is (delete it to apply the new ones)",
            queue,
        )
        channel = channel.connection.channel()
    for exchange, routing_key in bindings:
        channel.queue_bind(queue, exchange, routing_key=routing_key)
    return channel


def declare_recent_stream(
    connection: Connection, topology: Topology, camera_id: str, arguments: dict[str, Any]
) -> None:
    """The stream queue that keeps a camera's recent annotated frames.

    Its retention is in its arguments; a changed one (``keep_s``, ``keep_mb``)
    cannot be redeclared, so the stream is deleted and declared afresh: it only
    holds the recent past, which the cameras make again.
    """
    queue = topology.recent_queue(camera_id)
    channel = declare_afresh_if_changed(connection.channel(), queue, True, arguments)
    channel.queue_bind(queue, topology.results_exchange, routing_key=camera_id)
    channel.close()


def declare_footage_stream(
    connection: Connection, topology: Topology, camera_id: str, arguments: dict[str, Any]
) -> None:
    """The stream queue that keeps a camera's footage for the footage recorder.

    Unlike the recent past, footage is not made again: a stream whose retention
    changed is kept as it is, with a warning, never deleted.
    """
    queue = topology.footage_queue(camera_id)
    channel = declare_kept_queue(
        connection.channel(), queue, arguments, [(topology.footage_exchange, camera_id)]
    )
    channel.close()


StreamHandler = Callable[[bytes], None]


class StreamReading:
    """A stream being read, on a channel of its own, until ``stop``."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def stop(self) -> None:
        """Close the reading's channel, leaving what is in flight to the broker.

        A stream refuses a reject (and closes the whole connection for it), and
        pika's BlockingChannel.close rejects every delivery it has buffered, as
        does a cancel for deliveries still on their way. Closing the channel
        underneath, as pika's own lower layer does (there is no public way to),
        cancels nothing one by one: the broker drops what it had sent when the
        channel goes.
        """
        if self._channel.is_open:
            self._channel._impl.close()  # pika's channel beneath the blocking one

    def ack_through(self, tag: int) -> None:
        """Acknowledge every delivery up to ``tag``: to a stream, credit for more."""
        if self._channel.is_open:
            self._channel.basic_ack(tag, multiple=True)


def read_stream(
    connection: Connection, queue: str, since: float, on_body: StreamHandler
) -> StreamReading:
    """Consume a stream queue from the wall-clock time ``since`` onwards, on a channel
    of its own, until the reading is stopped.

    RabbitMQ finds the place by the time each chunk was stored, to the second
    (``x-stream-offset`` as an AMQP timestamp), so reading starts up to a second
    early: the caller sorts by its own timestamps. Streams deliver only to
    consumers with a prefetch, and count acks as credit.
    """
    channel = connection.channel()
    channel.basic_qos(prefetch_count=STREAM_PREFETCH)
    offset = datetime.datetime.fromtimestamp(max(0.0, since), tz=datetime.UTC)

    def on_message(_channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        if not channel.is_open:
            return  # being stopped: what is still buffered goes with the channel
        try:
            on_body(body)
        finally:
            channel.basic_ack(method.delivery_tag)

    channel.basic_consume(
        queue, on_message_callback=on_message, arguments={"x-stream-offset": offset}
    )
    return StreamReading(channel)


STREAM_PREFETCH = 100

# (body, offset in the stream, delivery tag for ``StreamReading.ack_through``)
OffsetHandler = Callable[[bytes, int, int], None]


def read_stream_at(
    connection: Connection, queue: str, offset: int | str, on_delivery: OffsetHandler,
    prefetch: int = STREAM_PREFETCH,
) -> StreamReading:  # fmt: skip
    """Consume a stream queue from ``offset`` (a message's number, or "first"), on a
    channel of its own, each delivery with its offset; nothing is acknowledged
    until the reader says (``ack_through``), so at most ``prefetch`` are in its hands:
    a reader that writes slowly holds the stream back, it does not buffer it."""
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)

    def on_message(_channel: Any, method: Any, properties: Any, body: bytes) -> None:
        if not channel.is_open:
            return
        on_delivery(body, int((properties.headers or {}).get("x-stream-offset", -1)),
                    method.delivery_tag)  # fmt: skip

    channel.basic_consume(
        queue, on_message_callback=on_message, arguments={"x-stream-offset": offset}
    )
    return StreamReading(channel)


def stream_tail(connection: Connection, queue: str, wait_s: float) -> tuple[int, bytes] | None:
    """The first message of a stream's last chunk (its offset and body), or None if
    nothing comes within ``wait_s`` (an empty stream: retention never empties one, so
    it is new). Read on a channel of its own, closed after."""
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    found: list[tuple[int, bytes]] = []

    def on_message(_channel: Any, _method: Any, properties: Any, body: bytes) -> None:
        if not found:
            found.append((int((properties.headers or {}).get("x-stream-offset", -1)), body))

    channel.basic_consume(queue, on_message_callback=on_message,
                          arguments={"x-stream-offset": "last"})  # fmt: skip
    deadline = time.monotonic() + wait_s
    while not found and time.monotonic() < deadline:
        connection.process_data_events(time_limit=min(0.05, wait_s))
    StreamReading(channel).stop()
    return found[0] if found else None


def queue_counts(connection: Connection, queues: list[str]) -> dict[str, tuple[int, int] | None]:
    """(messages, consumers) of each queue, None for one that does not exist."""
    counts: dict[str, tuple[int, int] | None] = {}
    channel = connection.channel()
    for queue in queues:
        try:
            declared = channel.queue_declare(queue, passive=True)
            counts[queue] = (declared.method.message_count, declared.method.consumer_count)
        except ChannelClosedByBroker as error:
            if error.reply_code != QUEUE_NOT_FOUND:
                raise
            counts[queue] = None
            channel = connection.channel()  # the broker closed the one that asked
    channel.close()
    return counts


def delete_queue(connection: Connection, queue: str) -> None:
    channel = connection.channel()
    channel.queue_delete(queue)
    channel.close()


def declare_private_queue(
    channel: Channel, exchange: str, routing_key: str, arguments: dict[str, Any]
) -> str:
    """A server-named, exclusive queue bound to ``exchange``; gone with its connection."""
    declared = channel.queue_declare("", exclusive=True, auto_delete=True, arguments=arguments)
    queue = declared.method.queue
    channel.queue_bind(queue, exchange, routing_key=routing_key)
    return queue


def properties(
    *, persistent: bool = False, expiration_ms: int | None = None, headers: dict | None = None
) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=CONTENT_TYPE,
        delivery_mode=PERSISTENT if persistent else TRANSIENT,
        expiration=str(expiration_ms) if expiration_ms is not None else None,
        timestamp=int(time.time()),
        headers=headers,
    )


def dead_letter(
    channel: Channel,
    topology: Topology,
    body: bytes,
    reason: str,
    source: str,
    original: pika.BasicProperties | None = None,
) -> None:
    """Keep a rejected message for inspection, with why and where it was rejected."""
    headers = dict(original.headers or {}) if original is not None else {}
    if not _encodable(headers):
        # Headers from a hostile publisher that pika cannot send again: keep ours only.
        headers = {"x-rabbitcam-original-headers": "dropped (not re-encodable)"}
    if len(body) > DEAD_LETTER_MAX_BYTES:
        # Keep the evidence, not the payload: a 4 GB attack must not fill the broker.
        headers["x-rabbitcam-truncated-from"] = len(body)
        body = body[:DEAD_LETTER_MAX_BYTES]
    headers.update(
        {
            "x-rabbitcam-reason": reason[:1000],
            "x-rabbitcam-source": source,
            # pika cannot encode a float header: milliseconds since the epoch.
            "x-rabbitcam-rejected-at": int(time.time() * 1000),
        }
    )
    channel.basic_publish(
        topology.dead_exchange,
        "",
        body,
        pika.BasicProperties(
            content_type=original.content_type if original is not None else None,
            delivery_mode=PERSISTENT,
            headers=headers,
        ),
    )


def _encodable(headers: dict[str, Any]) -> bool:
    try:
        pika.BasicProperties(headers=headers).encode()
    except Exception:  # whatever pika's encoder chokes on
        return False
    return True


# handler(body, properties); False: not done (stopped meanwhile), leave it unacknowledged.
MessageHandler = Callable[[bytes, Any], bool | None]


@dataclass(frozen=True)
class Message:
    """One delivery, as a role's handler gets it."""

    tag: int
    properties: Any  # pika.BasicProperties: headers, content type, expiration
    body: bytes


def _counted_nowhere(_reason: str) -> None:
    """A rejection no one counts (the dead-letter queue still has it)."""


@dataclass(frozen=True)
class Reads:
    """A queue a role reads, declared: ``Role.reads`` lists them, the base does the rest.

    The base declares the queue (``queue`` named: a durable queue of the role's own,
    bound by ``bindings``, kept across restarts; unnamed: a private queue bound to
    the first binding, gone with the connection), hands each delivery's body and
    properties to ``handler`` shielded (a message it refuses or that breaks it goes
    to the dead-letter queue with the reason, counted by ``on_reject``) and
    acknowledges it once handled (a private queue's deliveries are not acknowledged:
    they are worthless if lost, a viewer's frames).
    """

    handler: MessageHandler
    source: str  # named in dead-letter headers and logs
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)
    queue: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    on_reject: Callable[[str], None] = _counted_nowhere
    # Deliveries kept here instead, for a role whose handling waits (pumping the
    # connection, which a delivery's callback cannot): its on_tick handles them
    # (``shielded``) and acknowledges each (``Session.ack``).
    later: list[Message] | None = None


def shielded(
    handler: MessageHandler, session: Session, source: str, on_reject: Callable[[str], None]
) -> Callable[[Message], bool | None]:
    """A consumer callback that no single message can break.

    ``handler(body, properties)`` raises ``ValueError`` (``MessageError`` is one)
    for a message it refuses; any other exception is a bug met by this message.
    Either way the message goes to the dead-letter queue with the reason,
    ``on_reject(reason)`` counts it, and the consumer goes on. Only a lost
    connection escapes, so that the role reconnects.
    """

    def on_message(message: Message) -> bool | None:
        body, properties = message.body, message.properties
        try:
            return handler(body, properties)
        except BrokerError:
            raise
        except ValueError as error:
            reason = str(error)
        except Exception as error:
            LOGGER.exception("%s: a message broke its handler", source)
            reason = f"consumer error: {type(error).__name__}: {error}"
        on_reject(reason)
        session.dead_letter(body, reason, source, properties)
        return None

    return on_message


SILENT_AFTER_HEARTBEATS = 2
_last_heard: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class BrokerSilent(pika.exceptions.AMQPConnectionError):
    """Nothing arrived from the broker for two heartbeat intervals: the link is dead."""


def pump(
    connection: Connection, seconds: float, heartbeat_s: float, *, sleep: bool = False
) -> None:
    """Let pika do its I/O for up to ``seconds`` (all of them with ``sleep``), and
    notice a broker gone silent within two heartbeat intervals.

    pika's own check runs only every heartbeat + 5 s and needs two misses (14 s
    with a 2 s heartbeat); a cut network that still looks open must be noticed
    sooner. RabbitMQ sends a heartbeat every half interval on an idle link, so
    two intervals without a byte means the link is gone: the connection is
    aborted without a goodbye (a graceful close would wait on the dead link)
    and ``BrokerSilent`` raised, which ``run_reconnecting`` handles as any loss.
    """
    if sleep:
        connection.sleep(seconds)
    else:
        connection.process_data_events(time_limit=seconds)
    received = connection._impl.bytes_received  # pika's own count of bytes read
    now = time.monotonic()
    heard = _last_heard.get(connection)
    if heard is None or heard[0] != received:
        _last_heard[connection] = (received, now)
        return
    silent_s = now - heard[1]
    if silent_s > SILENT_AFTER_HEARTBEATS * heartbeat_s:
        abort(connection)  # no goodbye on a dead link
        raise BrokerSilent(
            f"nothing from the broker for {silent_s:.1f}s (heartbeat {heartbeat_s}s)"
        )


def run_reconnecting(
    role: str,
    broker: BrokerConfig,
    stop: threading.Event,
    session: Callable[[Connection], None],
) -> None:
    """Run ``session(connection)`` until ``stop`` is set, reconnecting after every loss.

    ``session`` must return when ``stop`` is set (it should wake at least once a
    second); any broker error it raises ends the connection and, after a backoff
    wait, a new connection is opened and ``session`` runs again from the start,
    declaring its topology afresh.
    """
    backoff = Backoff(initial=0.25, maximum=broker.reconnect_max_s)
    while not stop.is_set():
        connection = None
        started = time.monotonic()
        try:
            connection, reached = connect_to_first(broker, role)
            LOGGER.info("%s: connected to %s", role, reached)
            session(connection)
        except (BrokerError, OSError) as error:
            if time.monotonic() - started > HEALTHY_SESSION_S:
                backoff.reset()
            delay = backoff.next_delay()
            LOGGER.warning(
                "%s: broker connection lost (%s: %s); reconnecting in %.2fs",
                role,
                type(error).__name__,
                error or "no details",
                delay,
            )
            stop.wait(delay)
        finally:
            close_quietly(connection)


class Session:
    """A role's connection while it lasts: its channel, what it consumes and
    publishes, its timers and its pump. Every pika call a role makes goes
    through here; a role never holds pika's objects' methods itself."""

    def __init__(self, connection: Connection, heartbeat_s: float, topology: Topology) -> None:
        self.connection = connection
        self.heartbeat_s = heartbeat_s
        self.topology = topology
        self.channel = connection.channel()
        self._confirmed: Channel | None = None

    def declare(self, cameras: list[CameraConfig]) -> None:
        """The common topology and these cameras' queues."""
        declare_topology(self.connection, self.topology, cameras)

    def read(self, reads: Reads) -> str:
        """Declare ``reads``'s queue and consume it (see ``Reads``); the consumer's tag."""
        queue, kept = reads.queue, bool(reads.queue)
        if kept:
            self.channel = declare_kept_queue(
                self.channel, queue, reads.arguments, list(reads.bindings)
            )
        else:
            exchange, routing_key = reads.bindings[0]
            queue = declare_private_queue(self.channel, exchange, routing_key, reads.arguments)
        if reads.later is not None:
            return self.consume(queue, reads.later.append)
        handle = shielded(reads.handler, self, reads.source, reads.on_reject)
        if not kept:
            return self.consume(queue, handle, auto_ack=True)

        def handle_then_ack(message: Message) -> None:
            if handle(message) is not False:  # handled, or dead-lettered with why
                self.ack(message.tag)

        return self.consume(queue, handle_then_ack)

    def declare_recent_stream(self, camera_id: str, arguments: dict[str, Any]) -> None:
        """A camera's stream of recent results (see ``declare_recent_stream``)."""
        declare_recent_stream(self.connection, self.topology, camera_id, arguments)

    def read_stream(self, queue: str, since: float, on_body: StreamHandler) -> StreamReading:
        """A stream read from ``since`` on, on a channel of its own (see ``read_stream``)."""
        return read_stream(self.connection, queue, since, on_body)

    def declare_footage_stream(self, camera_id: str, arguments: dict[str, Any]) -> None:
        """A camera's footage stream (see ``declare_footage_stream``)."""
        declare_footage_stream(self.connection, self.topology, camera_id, arguments)

    def read_stream_at(
        self, queue: str, offset: int | str, on_delivery: OffsetHandler
    ) -> StreamReading:
        """A stream read from ``offset`` on, acknowledged by the reader (see ``read_stream_at``)."""
        return read_stream_at(self.connection, queue, offset, on_delivery)

    def stream_tail(self, queue: str, wait_s: float = 0.5) -> tuple[int, bytes] | None:
        """The first message of a stream's last chunk (see ``stream_tail``)."""
        return stream_tail(self.connection, queue, wait_s)

    def delete_queue(self, queue: str) -> None:
        delete_queue(self.connection, queue)

    def dead_letter(self, body: bytes, reason: str, source: str, properties: Any = None) -> None:
        """``body`` to the dead-letter queue, with why and where from."""
        dead_letter(self.channel, self.topology, body, reason, source, properties)

    @property
    def is_open(self) -> bool:
        return self.channel.is_open

    def prefetch(self, count: int) -> None:
        """At most ``count`` unacknowledged deliveries at a time on this channel."""
        self.channel.basic_qos(prefetch_count=count)

    def wake(self) -> None:
        """From another thread: see ``wake``."""
        wake(self.connection)

    def watch_blocked(self, role: str) -> threading.Event:
        """Set while the broker blocks this connection's publishers (see ``watch_blocked``)."""
        return watch_blocked(self.connection, role)

    def consume(
        self, queue: str, on_message: Callable[[Message], None], *, auto_ack: bool = False
    ) -> str:
        """Deliveries of ``queue`` to ``on_message``; the consumer's tag."""

        def callback(_channel: Any, method: Any, properties: Any, body: bytes) -> None:
            on_message(Message(method.delivery_tag, properties, body))

        return self.channel.basic_consume(queue, on_message_callback=callback, auto_ack=auto_ack)

    def cancel(self, tag: str) -> None:
        self.channel.basic_cancel(tag)

    def cancel_all(self) -> None:
        for tag in list(self.channel.consumer_tags):
            self.channel.basic_cancel(tag)

    def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        props: pika.BasicProperties | None = None,
        *,
        confirmed: bool = False,
    ) -> None:
        """Publish; ``confirmed``: on a channel in confirm mode, returning once the
        broker has the message (events, which must not be lost)."""
        channel = self.channel
        if confirmed:
            if self._confirmed is None:
                self._confirmed = self.connection.channel()
                self._confirmed.confirm_delivery()
            channel = self._confirmed
        channel.basic_publish(exchange, routing_key, body, props)

    def ack(self, tag: int) -> None:
        self.channel.basic_ack(tag)

    def later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """``callback`` on this connection's thread after ``delay_s``."""
        self.connection.call_later(delay_s, callback)

    def pump(self, seconds: float, *, sleep: bool = False) -> None:
        """Deliveries and timers for up to ``seconds`` (all of them with ``sleep``); a
        silent broker raises (see ``pump``)."""
        pump(self.connection, seconds, self.heartbeat_s, sleep=sleep)

    def settle(self, seconds: float) -> None:
        """Let pika finish what is under way (closing channels, last publishes)."""
        self.connection.process_data_events(time_limit=seconds)


class Role:
    """What every role that holds a broker connection shares.

    A role declares what it reads (``reads``: queues and their handlers), how many
    deliveries it takes at a time (``prefetch``) and which cameras' queues it needs
    (``declares_cameras``); ``serve`` connects, declares the topology and those queues,
    consumes them shielded (see ``Reads``), runs ``on_session`` for anything else,
    then pumps and ticks (``on_tick``) until ``stop`` is set, then ``on_stop``; the
    config's changes reach ``on_config``; after any connection loss it reconnects
    (with backoff) and does it all anew.
    """

    pump_s = 0.25  # the longest a tick waits: stop is noticed within this
    prefetch = 0  # deliveries in flight at a time (0: no limit)
    # A role that follows its config's files sets one; ``on_config`` gets the changes.
    watcher: ConfigWatcher | None = None

    def __init__(
        self, role: str, broker_config: BrokerConfig, stop: threading.Event, topology: Topology
    ) -> None:
        self.role = role
        self.broker_config = broker_config
        self.stop = stop
        self.topology = topology

    def declares_cameras(self) -> list[CameraConfig]:
        """The cameras whose queues this role needs declared."""
        return []

    def reads(self, session: Session) -> list[Reads]:
        """The queues this role reads, and how."""
        return []

    def on_session(self, session: Session) -> None:
        """After the topology is declared and the reading started, on every connection."""

    def on_config(self, session: Session, changes: CameraChanges) -> None:
        """The config's files changed (``self.watcher.config`` is the new config);
        called between pumps, before ``on_tick``."""

    def wait_s(self) -> tuple[float, bool]:
        """How long the next pump waits, and whether all of it (a role paced by the
        clock sleeps through; others go on at the first delivery)."""
        return self.pump_s, False

    def on_tick(self, session: Session) -> None:
        """After every pump."""

    def on_stop(self, session: Session) -> None:
        """When stopping, on a connection still up."""

    def on_session_end(self) -> None:
        """After every session, whether the connection was lost or the role stopped."""

    def serve(self) -> None:
        run_reconnecting(self.role, self.broker_config, self.stop, self._session)

    def _session(self, connection: Connection) -> None:
        session = Session(connection, self.broker_config.heartbeat_s, self.topology)
        try:
            session.declare(self.declares_cameras())
            if self.prefetch:
                session.prefetch(self.prefetch)
            for reads in self.reads(session):
                session.read(reads)
            self.on_session(session)
            while not self.stop.is_set():
                wait, whole = self.wait_s()
                session.pump(wait, sleep=whole)
                if self.watcher is not None and (changes := self.watcher.poll()):
                    self.on_config(session, changes)
                self.on_tick(session)
            self.on_stop(session)
        finally:
            self.on_session_end()


def wake(connection: Connection) -> None:
    """From another thread: make the connection's own thread return from its wait
    now (``add_callback_threadsafe``, the one thread-safe call of a BlockingConnection).
    A connection already gone is left alone."""
    with contextlib.suppress(BrokerError, RuntimeError, AttributeError):
        connection.add_callback_threadsafe(lambda: None)


def close_quietly(connection: Connection | None) -> None:
    """Close a connection, whatever state it and its channels are in; never raises."""
    if connection is None:
        return
    for _walk in range(3):
        if not connection.is_open:
            return
        try:
            connection.close()
        except AttributeError:
            # pika closes a snapshot of its channels one by one, reading as it goes;
            # a channel already closing (a stream reader let go) may finish meanwhile,
            # and its entry has no channel left when the walk reaches it. The
            # connection is still open, with that channel gone: walk again.
            continue
        except (BrokerError, OSError, AssertionError):
            # A connection that is already failing: nothing left to clean up here.
            return
    if connection.is_open:
        abort(connection)  # rather than leak its socket


def abort(connection: Connection) -> None:
    """Drop the connection's socket at once, without AMQP's closing handshake."""
    with contextlib.suppress(Exception):
        connection._impl._adapter_disconnect()
