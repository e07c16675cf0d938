"""HTTP (FastAPI), gRPC and the codec server: what talks to Recoup from outside."""
