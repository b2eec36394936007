"""The node SDK and the built-in node types that need no I/O."""
