"""How long mailprobe waits by default (config.Limits holds them per run; the CLI's help quotes them).

A connect waits CONNECT_TIMEOUT, each reply READ_TIMEOUT, and a whole dialogue with one server
SESSION_FACTOR times the reply timeout: `--timeout SECONDS` sets the first two and scales the third.
"""

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
SESSION_FACTOR = 3  # a whole dialogue may take this many times the reply timeout
SESSION_TIMEOUT = SESSION_FACTOR * READ_TIMEOUT
