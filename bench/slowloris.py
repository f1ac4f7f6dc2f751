# Slow headers from one client address against a polite client from another:
# python3 bench/slowloris.py CONNECTIONS PORT SOURCE_ADDRESS SECONDS (e.g. 5000 18080 127.0.0.2 20).
# The polite client (127.0.0.1) alternates /healthz and a small multipart /v1/analyze.
import asyncio, sys, time, json, statistics
N = int(sys.argv[1]); PORT = int(sys.argv[2]); SRC = sys.argv[3] if len(sys.argv) > 3 else '127.0.0.2'
DUR = float(sys.argv[4]) if len(sys.argv) > 4 else 20
opened = 0
async def loris(i):
    global opened
    try:
        r, w = await asyncio.open_connection('127.0.0.1', PORT, local_addr=(SRC, 0))
        opened += 1
        w.write(b'POST /v1/analyze HTTP/1.1\r\nHost: x\r\n'); await w.drain()
        for k in range(1000):
            await asyncio.sleep(5)
            w.write(b'X-a%d: b\r\n' % k); await w.drain()
    except Exception as e:
        pass
async def req(path, body=None):
    t = time.monotonic()
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection('127.0.0.1', PORT), 5)
        if body is None:
            w.write(f'GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode())
        else:
            mp = b'--BB\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n' + body + b'\r\n--BB--\r\n'
            w.write(f'POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=BB\r\nContent-Length: {len(mp)}\r\nConnection: close\r\n\r\n'.encode() + mp)
        await w.drain()
        data = await asyncio.wait_for(r.read(), 10)
        w.close()
        st = data.split(b' ', 2)[1].decode() if data else 'EMPTY'
    except Exception as e:
        st = type(e).__name__
    return st, time.monotonic() - t
async def polite(res):
    end = time.monotonic() + DUR
    while time.monotonic() < end:
        res['healthz'].append(await req('/healthz'))
        res['analyze'].append(await req('/v1/analyze?filename=a.txt', b'hello world, this is a polite document.'))
        await asyncio.sleep(0.2)
async def main():
    tasks = [asyncio.create_task(loris(i)) for i in range(N)]
    await asyncio.sleep(3)
    res = {'healthz': [], 'analyze': []}
    await polite(res)
    for k, v in res.items():
        sts = {}
        for s, _ in v: sts[s] = sts.get(s, 0) + 1
        lat = sorted(t for _, t in v)
        p99 = lat[int(len(lat)*0.99)-1] if lat else 0
        print(k, sts, 'p50 %.3f p99 %.3f' % (lat[len(lat)//2], p99))
    print('loris opened', opened)
    for t in tasks: t.cancel()
asyncio.run(main())
