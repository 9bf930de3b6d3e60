"""Live tests: real servers and services (dagster dev, Celery workers on PostgreSQL and
RabbitMQ, HTTP services, a browser), and the soak."""
