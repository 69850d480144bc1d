"""Local stack: embedded PostgreSQL, moto, the dispatcher (make local and the tests)."""
