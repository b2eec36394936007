"""Versioned message contracts, one module per owning service."""
