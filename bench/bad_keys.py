# Bad-key requests with 8 MiB bodies from 127.0.0.2 against an authorised client on a server
# started with DOCMILL_API_KEYS=goodkey-0123456789 --bind 127.0.0.1:18082: python3 bench/bad_keys.py
import socket, threading, time, http.client
PORT=18082; stop=False; bad={}; 
body=b'z'*(8<<20)
def flood():
    while not stop:
        try:
            s=socket.create_connection(('127.0.0.2',PORT)) if False else socket.create_connection(('127.0.0.1',PORT), source_address=('127.0.0.2',0))
            s.sendall(b'PUT /v1/analyze?filename=a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-key\r\nContent-Length: %d\r\nConnection: close\r\n\r\n'%len(body))
            try: s.sendall(body)
            except Exception: pass
            d=s.recv(100); k=d.split(b' ')[1] if d else b'EOF'; bad[k]=bad.get(k,0)+1; s.close()
        except Exception as e: bad[type(e).__name__]=bad.get(type(e).__name__,0)+1
ths=[threading.Thread(target=flood) for _ in range(50)]
for t in ths: t.start()
time.sleep(2); res={}; lat=[]
end=time.time()+20
while time.time()<end:
    t=time.monotonic()
    try:
        c=http.client.HTTPConnection('127.0.0.1',PORT,timeout=30); c.request('PUT','/v1/analyze?filename=p.txt',body=b'polite text '*1000,headers={'Authorization':'Bearer goodkey-0123456789'}); r=c.getresponse(); r.read(); st=r.status; c.close()
    except Exception as e: st=type(e).__name__
    lat.append(time.monotonic()-t); res[st]=res.get(st,0)+1; time.sleep(0.1)
stop=True
for t in ths: t.join()
lat.sort(); print('authorised', res, 'p50 %.3f p99 %.3f'%(lat[len(lat)//2], lat[int(len(lat)*.99)-1]), 'bad-token answers', bad)
