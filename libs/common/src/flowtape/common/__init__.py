"""Shared contracts, bus, settings and telemetry of every Flowtape service."""
