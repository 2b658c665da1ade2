"""Issue 20's "Done when" list, end to end: real processes, sockets and PostgreSQL."""
