#!/usr/bin/env python3
"""The service of the py-gather chain: an aiohttp server on one asyncio
event loop. The handler for /front/N makes two HTTP calls at once,
`await asyncio.gather(GET /b1/ID, GET /b2/ID)`, through one aiohttp
ClientSession (TCPConnector(limit=4): at most 4 connections, other calls
wait for one), then awaits a Redis GET k:ID over ONE shared connection that
pipelines concurrent commands (aioredis 1.3.1 `create_redis`), then answers.

usage: pygather.py IDS BIND PORT LEAF_HOST:PORT REDIS_HOST:PORT
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
    ids, bind, port, leaf, redis_addr = sys.argv[1:6]
    name = os.environ.get("OTEL_SERVICE_NAME", "pygather")
    redis = await aioredis.create_redis(f"redis://{redis_addr}")
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4),
                                    timeout=aiohttp.ClientTimeout(total=10))

    async def get(url):
        async with session.get(url) as resp:
            await resp.read()
            return resp.status

    async def front(request):
        n = request.match_info["n"]
        status = 200
        try:
            codes = await asyncio.gather(get(f"http://{leaf}/b1/{make_id(ids, 'b1', n)}"),
                                         get(f"http://{leaf}/b2/{make_id(ids, 'b2', n)}"))
            if any(c >= 500 for c in codes):
                status = 502
            await redis.get("k:" + make_id(ids, "k", n))
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
