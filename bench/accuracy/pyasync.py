#!/usr/bin/env python3
"""The service of the py-asyncio and py-gather chains: an aiohttp server on
one asyncio event loop, with ONE shared Redis connection that pipelines
concurrent commands (aioredis 1.3.1 `create_redis`: each command is written
at once, replies resolve the waiting commands in order, read by one reader
task) and one aiohttp ClientSession (TCPConnector(limit=4): at most 4
connections, other calls wait for one). The handler for /front/N, by MODE:

  await:   awaits the Redis GET k:ID, then, for even N only, an HTTP
           GET /b1/ID, then answers
  gather:  awaits asyncio.gather(GET /b1/ID, GET /b2/ID) (two child
           tasks), then the Redis GET k:ID, then answers

usage: pyasync.py MODE IDS BIND PORT LEAF_HOST:PORT REDIS_HOST:PORT
  IDS: plain (ID = N) | hashed (first 12 hex digits of sha1("b1:N"), ...)
Needs Debian's python3-aiohttp and python3-aioredis (run with /usr/bin/python3).
"""
import asyncio
import hashlib
import os
import signal
import sys

import aiohttp
import aioredis
from aiohttp import web


def make_id(ids, tag, n):
    if ids == "plain":
        return n
    return hashlib.sha1(f"{tag}:{n}".encode()).hexdigest()[:12]


async def main():
    mode, ids, bind, port, leaf, redis_addr = sys.argv[1:7]
    if mode not in ("await", "gather"):
        sys.exit(f"unknown mode {mode!r}")
    name = os.environ.get("OTEL_SERVICE_NAME", "py" + mode)
    redis = await aioredis.create_redis(f"redis://{redis_addr}")
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4),
                                    timeout=aiohttp.ClientTimeout(total=10))

    async def get(tag, n):
        async with session.get(f"http://{leaf}/{tag}/{make_id(ids, tag, n)}") as resp:
            await resp.read()
            return resp.status

    async def front(request):
        n = request.match_info["n"]
        codes = []
        try:
            if mode == "gather":
                codes += await asyncio.gather(get("b1", n), get("b2", n))
            await redis.get("k:" + make_id(ids, "k", n))
            if mode == "await" and int(n) % 2 == 0:
                codes.append(await get("b1", n))
            status = 502 if any(c >= 500 for c in codes) else 200
        except (OSError, asyncio.TimeoutError, aiohttp.ClientError, aioredis.RedisError) as e:
            print(f"{request.path}: {e!r}", file=sys.stderr, flush=True)
            status = 502
        return web.Response(status=status, text=f"{name} {request.path} {status}\n")

    app = web.Application()
    app.router.add_get("/front/{n}", front)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=120)
    await runner.setup()
    site = web.TCPSite(runner, bind, int(port), backlog=256)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await session.close()
    redis.close()
    await redis.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
