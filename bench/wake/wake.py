"""The Python side of bench/wake: `wait ARENA N` and `sockwait PATH N`
(blocking: ref.wait() and recv()), `await ARENA N` and `sockawait PATH N`
(asyncio: await ref.changed() and a stream reader on the same loop)."""
import asyncio
import json
import os
import socket
import struct
import sys
import time

import sharena

mode, where, n = sys.argv[1], sys.argv[2], int(sys.argv[3])


def report(lat):
    lat.sort()
    n = len(lat)
    print(json.dumps({"n": n, "median_us": lat[n // 2] / 1e3,
                      "p99_us": lat[n * 99 // 100] / 1e3}), flush=True)


lat = []
if mode == "wait":
    a = sharena.open(where, create=True, capacity=1 << 20)
    t = a.number("t")
    print("READY", flush=True)
    while len(lat) < n:  # writes coalesced into one wake are skipped
        t.wait(since=t.version, timeout=10)
        at = time.monotonic_ns()
        v = t.value
        if v < 0:
            break
        lat.append(at - v)
    report(lat)
elif mode == "sockwait":
    if os.path.exists(where):
        os.unlink(where)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(where)
    s.listen(1)
    print("READY", flush=True)
    c, _ = s.accept()
    buf = b""
    while len(lat) < n:
        d = c.recv(4096)
        at = time.monotonic_ns()
        if not d:
            break
        buf += d
        while len(buf) >= 8:
            lat.append(at - struct.unpack("<d", buf[:8])[0])
            buf = buf[8:]
    report(lat[:n])
elif mode == "await":
    a = sharena.open(where, create=True, capacity=1 << 20)
    t = a.number("t")

    async def main():
        print("READY", flush=True)
        while len(lat) < n:
            await t.changed(timeout=10)
            at = time.monotonic_ns()
            v = t.value
            if v < 0:
                break
            lat.append(at - v)

    asyncio.run(main())
    report(lat)
elif mode == "sockawait":
    if os.path.exists(where):
        os.unlink(where)

    async def main():
        done = asyncio.get_running_loop().create_future()

        async def serve(reader, writer):
            buf = b""
            while len(lat) < n:
                d = await reader.read(4096)
                at = time.monotonic_ns()
                if not d:
                    break
                buf += d
                while len(buf) >= 8:
                    lat.append(at - struct.unpack("<d", buf[:8])[0])
                    buf = buf[8:]
            done.set_result(None)

        server = await asyncio.start_unix_server(serve, path=where)
        print("READY", flush=True)
        await done
        server.close()

    asyncio.run(main())
    report(lat[:n])
