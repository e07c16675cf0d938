"""The composition root and its parts.

Settings, the Temporal client, the codec and its keys, tracing, metrics, the dev server.
"""
