"""``recoup api`` as an operator runs it: its own process, real ports, Ctrl-C stops it."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bootstrap.devserver import free_port
from bootstrap.settings import Settings
from tests.api_support import auth, new_tenant
from tests.cli_support import ROOT, env_for, recoup


async def test_recoup_api_serves_http_and_grpc_until_interrupted(settings: Settings) -> None:
    http_port, grpc_port = free_port(), free_port()
    env = env_for(settings)
    _, key = new_tenant(settings)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "api",
        "--port", str(http_port), "--grpc-port", str(grpc_port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL, env=env, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    banner = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    try:
        assert f"http://127.0.0.1:{http_port}" in banner and str(grpc_port) in banner
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
            health = (await http.get("/v1/health")).json()
            approvals = await http.get("/v1/approvals", headers=auth(key))
            anonymous = await http.get("/v1/approvals")
        assert health == {"status": "ok", "temporal": True, "database": True}
        assert approvals.status_code == 200 and approvals.json() == {"approvals": []}
        assert anonymous.status_code == 401
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            served = await stub.Check(health_pb2.HealthCheckRequest(service="recoup.v1.Recoup"))
        assert served.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0

    document = await recoup("api", "--openapi", env=env)
    assert document.code == 0, document.err
    assert "/v1/campaigns" in json.loads(document.out)["paths"]
