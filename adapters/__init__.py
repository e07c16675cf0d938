"""I/O clients. No Temporal imports here: activities translate these errors."""
