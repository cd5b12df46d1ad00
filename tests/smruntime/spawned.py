"""The work of a spawned pool process (tests/smruntime/test_wire_processes.py), in a module of its
own: each spawned interpreter imports it to unpickle the task, and it imports the client only, not
pytest and the test module (a quarter of a second of start-up a process)."""

from __future__ import annotations

from smruntime import Client


def spawned_call(args: tuple[Client, int]) -> bytes:
    """Invoke through the unpickled ``client``; the body names ``n``."""
    client, n = args
    result = client.invoke_endpoint(
        EndpointName="e", Body=b'"spawn-%d"' % n, ContentType="application/json"
    )
    return bytes(result["Body"].read())
