"""Recoup's domain: pure, deterministic models and rules.

Nothing in this package performs I/O, reads the clock or draws random numbers, so
workflows can import it through the Temporal sandbox and replay it exactly.
"""
