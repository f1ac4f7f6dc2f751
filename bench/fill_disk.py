# Jobs of two ~900 KB texts, with three threads of 6 MiB PUT /v1/analyze, until the
# disk under --data-dir is full: python3 bench/fill_disk.py PORT fill; then
# python3 bench/fill_disk.py PORT check for the state of every job accepted.
import http.client, json, sys, os, time, threading, random
PORT=int(sys.argv[1]); MODE=sys.argv[2]
def req(method, path, body=b'', headers={}):
    c=http.client.HTTPConnection('127.0.0.1', PORT, timeout=60)
    try:
        c.request(method, path, body=body, headers=headers); r=c.getresponse(); d=r.read(); return r.status, d
    except Exception as e:
        return type(e).__name__, b''
    finally: c.close()
def mp(files):
    b=b''
    for n,d in files:
        b+=b'--BB\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\nContent-Type: application/octet-stream\r\n\r\n'%n.encode()+d+b'\r\n'
    return b+b'--BB--\r\n'
H={'Content-Type':'multipart/form-data; boundary=BB'}
if MODE=='fill':
    ids=[]; statuses={}
    t0=time.time()
    # concurrent big PUTs while jobs fill the disk
    putst={}
    def putter():
        for i in range(20):
            s,d=req('PUT','/v1/analyze?filename=big.txt', os.urandom(3<<20).hex().encode()[:6<<20])
            k=s if s!=507 else '507:'+json.loads(d)['error']['code']
            putst[k]=putst.get(k,0)+1
    ths=[threading.Thread(target=putter) for _ in range(3)]
    for t in ths: t.start()
    for i in range(200):
        words=' '.join(random.choice(['alpha','beta','gamma','delta','river','stone']) for _ in range(150000))
        s,d=req('POST','/v1/jobs', mp([('doc%d_%d.txt'%(i,k), words.encode()) for k in range(2)]), H)
        if s==202: ids.append(json.loads(d)['id'])
        else:
            try: code=json.loads(d)['error']['code']
            except Exception: code=d[:80]
            statuses[(s,code)]=statuses.get((s,code),0)+1
    for t in ths: t.join()
    print('accepted', len(ids), 'refused', statuses, 'puts', putst, 'in %.1fs'%(time.time()-t0))
    json.dump(ids, open('ids.json','w'))
    s,d=req('POST','/v1/analyze', mp([('s.txt', b'small doc')]), H); print('small analyze', s)
    s,d=req('GET','/healthz'); print('healthz', s)
elif MODE=='check':
    ids=json.load(open('ids.json'))
    st={}
    for i in ids:
        s,d=req('GET','/v1/jobs/'+i)
        k=json.loads(d)['status'] if s==200 else s
        st[k]=st.get(k,0)+1
    print('jobs', st)
    lost=0; lines=0
    for i in ids:
        s,d=req('GET','/v1/jobs/%s/results'%i)
        ls=[json.loads(l) for l in d.splitlines() if l.strip()] if s==200 else []
        lines+=len(ls)
        if s!=200 or len([l for l in ls if 'report' in l or 'error' in l])!=2: lost+=1
    print('result lines', lines, 'jobs missing results', lost)
    errs={}
    for i in ids:
        s,d=req('GET','/v1/jobs/%s/results'%i)
        for l in d.splitlines():
            if l.strip():
                j=json.loads(l)
                if 'error' in j: errs[j['error'].get('code')]=errs.get(j['error'].get('code'),0)+1
    print('error lines', errs)
