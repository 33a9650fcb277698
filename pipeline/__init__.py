"""rabbitcam: a real-time camera frame pipeline over RabbitMQ."""

__version__ = "0.1.0"
