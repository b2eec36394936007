"""The rules of auth, free of I/O: password hashing, key material, tokens, login throttling, user rules."""
