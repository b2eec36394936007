"""The engine's domain: workflow graphs, the execution aggregate and the pure scheduling core."""
