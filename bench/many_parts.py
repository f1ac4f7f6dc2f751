# One batch (or job) of N small parts with a /healthz prober beside it:
# python3 bench/many_parts.py PORT N tiny|nofilename|bighdr [/v1/batch|/v1/jobs]
import socket, sys, time, json, threading, http.client
PORT=int(sys.argv[1]); N=int(sys.argv[2]); MODE=sys.argv[3]; PATH=sys.argv[4] if len(sys.argv)>4 else '/v1/batch'
parts=[]
for i in range(N):
    if MODE=='tiny': h=b'Content-Disposition: form-data; name="file"; filename="f%d.txt"\r\n'%i
    elif MODE=='nofilename': h=b'Content-Disposition: form-data; name="file"\r\n'
    elif MODE=='bighdr': h=b'Content-Disposition: form-data; name="file"; filename="f%d.txt"\r\nX-Pad: '%i+b'p'*(15<<10)+b'\r\n'
    parts.append(b'--BB\r\n'+h+b'\r\nx%d\r\n'%i)
body=b''.join(parts)+b'--BB--\r\n'
probe=[]; stop=False
def prober():
    while not stop:
        t=time.monotonic()
        try:
            c=http.client.HTTPConnection('127.0.0.1',PORT,timeout=10); c.request('GET','/healthz'); c.getresponse().read(); c.close(); probe.append(time.monotonic()-t)
        except Exception: probe.append(99)
        time.sleep(0.05)
th=threading.Thread(target=prober); th.start()
t0=time.time()
s=socket.create_connection(('127.0.0.1',PORT)); s.settimeout(600)
s.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=BB\r\nContent-Length: %d\r\nConnection: close\r\n\r\n'%(PATH.encode(),len(body)))
def send(): 
    try: s.sendall(body)
    except Exception as e: print('send', e)
st=threading.Thread(target=send); st.start()
out=b''
while True:
    d=s.recv(1<<20)
    if not d: break
    out+=d
st.join(); stop=True; th.join()
head,_,rest=out.partition(b'\r\n\r\n')
print(MODE, N, 'body %.1f MiB'%(len(body)/2**20), head.split(b'\r\n')[0], 'in %.1fs'%(time.time()-t0))
txt=rest.decode(errors='replace')
lines=[l for l in txt.split('\n') if l.strip().startswith('{')]
print('lines', len(lines), 'first', lines[0][:200] if lines else txt[:300]); print('last', lines[-1][:300] if lines else '')
probe.sort(); print('healthz n=%d p50 %.3f p99 %.3f max %.3f'%(len(probe), probe[len(probe)//2], probe[int(len(probe)*.99)-1], probe[-1]))
