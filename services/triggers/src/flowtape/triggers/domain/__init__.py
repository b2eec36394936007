"""The triggers service's pure core: what a workflow registers, and when a schedule ticks."""
