# bench/api/client.py URL TOKEN N THREADS: the measurements of bench/api/run.
import base64
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

url, token, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
host = urllib.parse.urlparse(url).netloc
H = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}


def conn():
    return http.client.HTTPConnection(host, timeout=60)


def req(c, method, path, body=None):
    t0 = time.perf_counter()
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=H)
    r = c.getresponse()
    data = r.read()
    return r.status, data, (time.perf_counter() - t0) * 1000


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def report(name, lat):
    print("%-28s n=%-5d p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms"
          % (name, len(lat), pct(lat, 50), pct(lat, 99), max(lat)))


# durable enrolments per second, THREADS clients at once
lat, keys, lock = [], [], threading.Lock()
todo = list(range(n))


def worker():
    c = conn()
    while True:
        with lock:
            if not todo:
                return
            todo.pop()
        key = base64.b64encode(os.urandom(32)).decode()
        s, _, ms = req(c, "POST", "/v1/peers", {"public_key": key})
        if s != 201:
            sys.exit("POST: %d" % s)
        with lock:
            lat.append(ms)
            keys.append(key)


t0 = time.perf_counter()
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
el = time.perf_counter() - t0
print("enrolments (durable):        %d in %.2f s = %.0f/s with %d clients" % (len(keys), el, len(keys) / el, threads))
report("POST /v1/peers (%d clients)" % threads, lat)

# one client: latency without queueing behind others
c = conn()
post1 = []
for _ in range(100):
    s, _, ms = req(c, "POST", "/v1/peers", {"public_key": base64.b64encode(os.urandom(32)).decode()})
    post1.append(ms)
report("POST /v1/peers (1 client)", post1)
get1 = []
for k in keys[:300]:
    s, _, ms = req(c, "GET", "/v1/peers/" + urllib.parse.quote(k, safe=""))
    if s != 200:
        sys.exit("GET one: %d" % s)
    get1.append(ms)
report("GET /v1/peers/{key}", get1)
getall = []
for _ in range(20):
    s, body, ms = req(c, "GET", "/v1/peers")
    getall.append(ms)
report("GET /v1/peers (%d peers)" % len(json.loads(body)["peers"]), getall)
