"""Flowtape triggers service."""
