"""Flowtape gateway service."""
