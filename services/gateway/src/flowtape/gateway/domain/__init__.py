"""The gateway's rules that need no I/O: who a caller is and may reach, what a request may hold, which rate limit
it counts against, what a webhook call starts and answers. The modules around them ask peers and hold caches."""
