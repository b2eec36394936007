"""Flowtape benchmarks: latency, throughput and memory of the platform, embedded and distributed.

Run from the repository root with ``.venv/bin/python -m benchmarks`` (or ``make bench``); ``--help`` lists the
options. Every run starts its own platform on 127.0.0.1 (a private RabbitMQ vhost and PostgreSQL database for
the distributed mode, a temporary data directory for the embedded one), stops by itself, and cleans up.
"""
