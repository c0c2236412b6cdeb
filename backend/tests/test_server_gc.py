"""`HybridServer` (server.py) freezes the heap start-up built, once the server is up: what the app
made at start-up is out of every later collection's way, and garbage made afterwards is still
collected. In a child process, since a freeze is for the life of a process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from hybrid_dns.server import GC_YOUNG_THRESHOLD

CHILD = textwrap.dedent(
    """
    import asyncio, gc, json, socket, weakref
    from hybrid_dns.server import HybridServer
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    class Node:
        pass

    async def main():
        before = gc.get_freeze_count()
        server = HybridServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        frozen = gc.get_freeze_count()
        threshold = gc.get_threshold()[0]
        port = server.servers[0].sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        answer = (await reader.read(1000)).split(b"\\r\\n")[0].decode()
        writer.close()
        # a cycle made after start-up is garbage like any other
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        server.should_exit = True
        await task
        result = {"before": before, "frozen": frozen, "answer": answer}
        result.update(cycle_collected=gone() is None, threshold=threshold)
        print(json.dumps(result))

    asyncio.run(main())
    """
)


def test_the_heap_start_up_built_is_frozen_and_later_garbage_still_goes() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == 0
    assert result["frozen"] > 10_000, result  # modules, uvicorn, the app: all of start-up
    assert result["answer"] == "HTTP/1.1 200 OK"
    assert result["cycle_collected"] is True
    assert result["threshold"] == GC_YOUNG_THRESHOLD
