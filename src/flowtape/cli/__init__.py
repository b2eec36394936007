"""The flowtape command line."""
