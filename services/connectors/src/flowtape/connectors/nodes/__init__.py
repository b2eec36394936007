"""Node types that need I/O or run user code, so only a connectors worker runs them."""
