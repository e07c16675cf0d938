"""Recoup tests: real servers, real connections."""
