"""Flowtape connectors service."""
