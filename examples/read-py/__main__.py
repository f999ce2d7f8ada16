"""read-py: read one key from Redis and return it, with the time it took.

The tutorial's action, for a single Redis instead of a cluster: deploy it as
a zip holding this file and a virtualenv/ with the redis client library,
as a web action, and expose it with `wsk api create /readpy post read-py`.
"""
import os
import time

import redis


def main(args):
    key = str(args.get("key"))
    host = args.get("host") or os.environ.get("REDIS_HOST", "127.0.0.1")
    port = int(args.get("port") or os.environ.get("REDIS_PORT", "6379"))
    start = time.time()
    client = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=5)
    try:
        res = client.get(key)
    finally:
        client.close()
    t = float(time.time() - start) * 1000
    return {"result": res, "t": t}
