# tests/net/api_client.py: concurrent clients of `weft api` for 75-api.sh.
#   burst URL TOKEN N THREADS OUT   N enrolments (POST /v1/peers with a fresh
#       public key each) from THREADS threads; one line per answer in OUT,
#       "STATUS KEY ADDRESS", written and flushed as it arrives, so that a
#       server killed mid-burst leaves the record of what was answered.
#       With DUPNAME after OUT, every third request also asks for the name
#       DUPNAME (which a peer has already: each of those must be 409).
#   peers URL TOKEN                 prints "KEY ADDRESS" for GET /v1/peers
#   trickle URL LIMIT [body]        sends a request's headers (with "body": its
#       body, after the headers at once) a byte a second; prints the seconds
#       until the server closed the connection, or "open" after LIMIT seconds
import base64
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request


def call(url, token, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def burst(url, token, n, threads, out, dupname=None):
    lock = threading.Lock()
    f = open(out, "w")
    todo = list(range(n))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            key = base64.b64encode(os.urandom(32)).decode()
            try:
                body = {"public_key": key}
                if dupname and i % 3 == 0:
                    body["name"] = dupname
                status, body = call(url + "/v1/peers", token, "POST", body)
            except Exception:  # the server went away: no answer, no line
                continue
            addr = "-"
            if status == 201:
                addr = json.loads(body)["addresses"][0]
            with lock:
                f.write("%d %s %s\n" % (status, key, addr))
                f.flush()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    f.close()


def peers(url, token):
    status, body = call(url + "/v1/peers", token)
    if status != 200:
        sys.exit("GET /v1/peers: %d %s" % (status, body))
    for p in json.loads(body)["peers"]:
        print(p["public_key"], p["addresses"][0] if p["addresses"] else "-")


def trickle(url, limit, part="headers"):
    """Sends a request's headers (or, all headers sent at once, its body) a
    byte a second; prints how many seconds passed until the server closed
    the connection, or "open" after limit."""
    host, port = url.split("//", 1)[1].split(":")
    s = socket.create_connection((host, int(port)))
    s.settimeout(0.2)
    start = time.monotonic()
    if part == "body":
        body = b"{" + b" " * 200 + b"}"
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        req = body
    else:
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    for b in req:
        try:
            s.send(bytes([b]))
            if s.recv(1) == b"":
                break
        except socket.timeout:
            pass
        except OSError:
            break
        if time.monotonic() - start > limit:
            print("open")
            return
        time.sleep(max(0, 1 - 0.2))
    else:
        print("sent all")
        return
    print("%.1f" % (time.monotonic() - start))


if __name__ == "__main__":
    if sys.argv[1] == "trickle":
        trickle(sys.argv[2], float(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "headers")
    elif sys.argv[1] == "burst":
        burst(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
              sys.argv[7] if len(sys.argv) > 7 else None)
    elif sys.argv[1] == "peers":
        peers(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: api_client.py burst|peers|trickle ...")
