"""Closing a connection never raises, whatever its channels are doing."""

from __future__ import annotations

import uuid

from pipeline.core import broker
from pipeline.core.config import BrokerConfig


def test_a_connection_closes_while_a_stream_reader_it_let_go_is_still_closing(broker_url):
    """The recorder lets go of a clip's stream reader and, when stopping, closes its
    connection at once: the reader's channel finishes closing while the connection
    closes its other channels (a role that raised here died instead of stopping)."""
    config = BrokerConfig(url=broker_url)
    queue = f"rabbitcam-test-close-{uuid.uuid4().hex}"
    setup = broker.connect(config, "test")
    channel = setup.channel()
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "stream"})
    try:
        for _ in range(50):
            channel.basic_publish("", queue, b"x" * 1000)
        for _ in range(20):
            connection = broker.connect(config, "test")
            connection.channel()  # an open channel, which the close walks to first
            read: list[bytes] = []
            reader = broker.read_stream(connection, queue, 0.0, read.append)
            connection.process_data_events(time_limit=0.2)
            assert read, "the stream delivered"
            reader.stop()
            broker.close_quietly(connection)
            assert connection.is_closed
    finally:
        channel.queue_delete(queue)
        setup.close()
