"""Flowtape auth service."""
