"""The connectors' rules, free of I/O: taking secrets out of what nodes produce, reading ``Retry-After``, per-host
rate limits, credential names and where variables belong. The modules around them store, call and run."""
