# Slow uploads from one address against a polite client:
# python3 bench/trickle.py CONNECTIONS PORT SOURCE_ADDRESS SECONDS BYTES_PER_SECOND (e.g. 200 18081 127.0.0.2 40 600).
import asyncio, sys, time
N=int(sys.argv[1]); PORT=int(sys.argv[2]); SRC=sys.argv[3]; DUR=float(sys.argv[4]); RATE=int(sys.argv[5])  # bytes/s per conn
alive=0; got={}
async def trickle(i):
    global alive
    try:
        r,w=await asyncio.open_connection('127.0.0.1',PORT,local_addr=(SRC,0))
        size=50<<20
        head=b'--BB\r\nContent-Disposition: form-data; name="file"; filename="t%d.txt"\r\n\r\n'%i
        w.write(b'POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=BB\r\nContent-Length: %d\r\n\r\n'%(size)+head); await w.drain()
        alive+=1
        chunk=b'a'*RATE
        while True:
            w.write(chunk); await w.drain()
            try:
                d=await asyncio.wait_for(r.read(200),1.0)
                if d or r.at_eof():
                    k=d.split(b' ')[1] if d else b'EOF'; got[k]=got.get(k,0)+1; alive-=1; return
            except asyncio.TimeoutError: pass
    except Exception as e:
        got[type(e).__name__]=got.get(type(e).__name__,0)+1
async def req(body):
    t=time.monotonic()
    try:
        r,w=await asyncio.wait_for(asyncio.open_connection('127.0.0.1',PORT),5)
        mp=b'--BB\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'+body+b'\r\n--BB--\r\n'
        w.write(b'POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=BB\r\nContent-Length: %d\r\nConnection: close\r\n\r\n'%len(mp)+mp); await w.drain()
        d=await asyncio.wait_for(r.read(),10); st=d.split(b' ')[1].decode() if d else 'EMPTY'
    except Exception as e: st=type(e).__name__
    return st, time.monotonic()-t
async def main():
    ts=[asyncio.create_task(trickle(i)) for i in range(N)]
    await asyncio.sleep(2)
    res=[]; end=time.monotonic()+DUR
    while time.monotonic()<end:
        res.append(await req(b'polite document '*4096)); await asyncio.sleep(0.25)
    sts={}
    for s,_ in res: sts[s]=sts.get(s,0)+1
    lat=sorted(t for _,t in res)
    print('polite 64KiB analyze', sts, 'p50 %.3f p99 %.3f'%(lat[len(lat)//2], lat[int(len(lat)*.99)-1]), 'tricklers alive', alive, 'ended', got)
    for t in ts: t.cancel()
asyncio.run(main())
