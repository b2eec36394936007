"""Flowtape engine service."""
