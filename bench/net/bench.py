#!/usr/bin/env python3
"""bench/net/bench.py: runs the network benchmark (called by bench/net/run,
which installs the tools and builds weftd first) and writes the raw results
as JSON, then the report (bench/net/report.py) from them.

    namespace wbench-a<pid> (iperf3 client)         namespace wbench-b<pid> (iperf3 server)
    veth wbva<pid> 192.168.92.1/24 --------------- veth wbvb<pid> 192.168.92.2/24   (raw veth)
    tunnel w<r><c>a<pid> 10.77.<c>.1/24 <== UDP ==> w<r><c>b<pid> 10.77.<c>.2/24
           client-side daemon                        server-side daemon

Every repetition runs every configuration once, interleaved, each with
fresh daemons, so that drift on the machine (other work, thermal) spreads
over all configurations alike. Per configuration and repetition:
idle RSS, ping idle, TCP 1 stream forward (with ping under that load),
TCP 1 stream reverse, TCP 4 streams each way, UDP at 1 and 10 Gbit/s
offered, then peak RSS. The daemon CPU time comes from /proc/PID/stat
around each iperf3 run. Afterwards, an optional perf profile of weftd under
a saturating stream, and the `wg setconf` scale run.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import report  # noqa: E402

TAG = str(os.getpid())
NS_A, NS_B = "wbench-a" + TAG, "wbench-b" + TAG
VETH_A, VETH_B = "wbva" + TAG, "wbvb" + TAG
UNDER_A, UNDER_B = "192.168.92.1", "192.168.92.2"
IPERF_PORT = 5201
# UDP payload that fits the tunnel's default MTU 1420 (1420 - 20 IP - 8 UDP,
# rounded down); the same size on raw veth keeps the rows comparable
UDP_LEN = 1380
# iperf3's socket buffers for UDP: with the default ones even raw veth drops
# 0.5-2 % at 1 Gbit/s in the receiving socket; with 2 MiB it drops none, so
# the loss that remains is the tunnel's
UDP_SOCKBUF = 2 << 20
PING_COUNT, PING_INTERVAL = 20, 0.05
CLK_TCK = os.sysconf("SC_CLK_TCK")
SCALE_NET = (10 << 24) | (128 << 16)  # 10.128.0.0/9: the scale run's peers
WG_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1", "LOG_LEVEL": "error"}

# configuration key -> (label, client-side daemon, server-side daemon)
CONFIGS = {
    "raw": ("raw veth", None, None),
    "wg-wg": ("wireguard-go ↔ wireguard-go", "wireguard-go", "wireguard-go"),
    "weft-weft": ("weftd ↔ weftd", "weftd", "weftd"),
    "weft-wg": ("weftd → wireguard-go", "weftd", "wireguard-go"),
    "wg-weft": ("wireguard-go → weftd", "wireguard-go", "weftd"),
}
DEFAULT_CONFIGS = "raw,wg-wg,weft-weft,weft-wg"
REPORT = os.path.join(ROOT, "docs", "performance.md")


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def run(args, ns=None, timeout=60, check=False, env=None, stdin=None):
    """Runs a command (inside namespace ns), returns CompletedProcess."""
    if ns:
        args = ["ip", "netns", "exec", ns] + list(args)
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, check=check, env=env, stdin=stdin)


def median(xs):
    return statistics.median(xs) if xs else None


# ---- processes ------------------------------------------------------------

def proc_cpu(pid):
    """utime + stime of the whole process (all threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_mem(pid):
    """(VmRSS, VmHWM) in KiB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out.get("VmRSS"), out.get("VmHWM")


def daemon_pid(ns, ifname):
    """The weftd or wireguard-go serving ifname in ns: both daemonize, so the
    pid is found among the namespace's processes by name and last argument."""
    r = run(["ip", "netns", "pids", ns])
    for pid in r.stdout.split():
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        if comm in ("weftd", "wireguard-go") and args[-1].decode() == ifname:
            return int(pid)
    return None


class Daemon:
    def __init__(self, ns, ifname, kind, binary, env_extra=None):
        self.ns, self.ifname, self.kind = ns, ifname, kind
        env = dict(os.environ, **WG_ENV, **(env_extra or {}))
        sock = f"/var/run/wireguard/{ifname}.sock"
        # stderr to a file: the daemonized child keeps it open, a pipe would never close
        with tempfile.TemporaryFile("w+") as err:
            rc = subprocess.run(["ip", "netns", "exec", ns, binary, ifname], env=env, timeout=20,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err).returncode
            if rc != 0:
                err.seek(0)
                raise RuntimeError(f"{kind} {ifname} did not start: {err.read().strip()[-300:]}")
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{kind} {ifname}: no UAPI socket {sock}")
        self.pid = None
        for _ in range(40):
            self.pid = daemon_pid(ns, ifname)
            if self.pid:
                break
            time.sleep(0.05)
        if not self.pid:
            raise RuntimeError(f"{kind} {ifname}: cannot find its pid")

    def cpu(self):
        return proc_cpu(self.pid)

    def mem(self):
        return proc_mem(self.pid)

    def alive(self):
        """Running: a zombie counts as gone (the namespace's init may reap late)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    def stop(self):
        if self.pid and self.alive():
            os.kill(self.pid, signal.SIGTERM)
            for _ in range(60):
                if not self.alive():
                    break
                time.sleep(0.05)
            else:
                os.kill(self.pid, signal.SIGKILL)
                time.sleep(0.2)
        try:
            os.unlink(f"/var/run/wireguard/{self.ifname}.sock")
        except OSError:
            pass


# ---- network --------------------------------------------------------------

def make_underlay():
    for ns in (NS_A, NS_B):
        run(["ip", "netns", "add", ns], check=True)
        run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    run(["ip", "link", "add", VETH_A, "netns", NS_A, "type", "veth", "peer", "name", VETH_B,
         "netns", NS_B], check=True)
    for ns, dev, addr in ((NS_A, VETH_A, UNDER_A), (NS_B, VETH_B, UNDER_B)):
        run(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev], check=True)
        run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)


def remove_underlay():
    for ns in (NS_A, NS_B):
        pids = run(["ip", "netns", "pids", ns]).stdout.split()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(int(pid), sig)
                except OSError:
                    pass
            if pids:
                time.sleep(0.3)
        run(["ip", "netns", "del", ns])


def keypair(tmp, name):
    path = os.path.join(tmp, name + ".key")
    priv = run(["wg", "genkey"], check=True).stdout.strip()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(priv + "\n")
    pub = run(["wg", "pubkey"], check=True, stdin=open(path)).stdout.strip()
    return path, priv, pub


def ping(ns, addr, count=PING_COUNT, interval=PING_INTERVAL):
    """RTTs in ms of the answered echo requests."""
    r = run(["ping", "-n", "-c", str(count), "-i", str(interval), "-W", "1", addr], ns=ns,
            timeout=count * interval + 10)
    return [float(x) for x in re.findall(r"time=([\d.]+) ms", r.stdout)]


def wait_ping(ns, addr, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if run(["ping", "-n", "-c", "1", "-W", "1", addr], ns=ns, timeout=5).returncode == 0:
            return True
        time.sleep(0.2)
    return False


def listening(ns, port):
    r = run(["ss", "-Hltn", f"sport = :{port}"], ns=ns)
    return bool(r.stdout.strip())


def iperf(addr, seconds, extra, daemons, during=None):
    """One iperf3 test from NS_A to a one-shot server in NS_B. Returns a dict
    with receiver bits/s and bytes, (UDP) sender bits/s and loss, and the CPU
    seconds of each daemon during the test. during() runs while it goes."""
    server = subprocess.Popen(["ip", "netns", "exec", NS_B, "iperf3", "-s", "-1", "-p",
                               str(IPERF_PORT)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    res = {}
    try:
        for _ in range(100):
            if listening(NS_B, IPERF_PORT):
                break
            time.sleep(0.03)
        cpu0 = {side: d.cpu() for side, d in daemons.items()}
        t0 = time.monotonic()
        client = subprocess.Popen(["ip", "netns", "exec", NS_A, "iperf3", "-c", addr, "-p",
                                   str(IPERF_PORT), "-J", "-t", str(seconds),
                                   "--connect-timeout", "3000"] + extra,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if during:
            res.update(during())
        try:
            out, err = client.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            client.kill()
            out, err = client.communicate()
            res["error"] = "iperf3 did not finish"
        res["wall"] = time.monotonic() - t0
        cpu1 = {side: d.cpu() for side, d in daemons.items()}
        res["cpu"] = {s: (cpu1[s] - cpu0[s]) if cpu0[s] is not None and cpu1[s] is not None
                      else None for s in daemons}
        try:
            j = json.loads(out)
        except ValueError:
            res.setdefault("error", (err or out).strip()[-300:] or "no output")
            return res
        if j.get("error"):
            res.setdefault("error", j["error"])
        end = j.get("end", {})
        recv, sent = end.get("sum_received") or end.get("sum") or {}, end.get("sum_sent") or {}
        res["bps"] = recv.get("bits_per_second", 0.0)
        res["bytes"] = recv.get("bytes", 0)
        res["sent_bps"] = sent.get("bits_per_second")
        if "lost_percent" in recv:
            res["loss"] = recv["lost_percent"]
        if "retransmits" in sent:
            res["retransmits"] = sent["retransmits"]
        return res
    finally:
        try:
            server.wait(timeout=3)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ---- one configuration, one repetition --------------------------------------

class Tunnel:
    """Two daemons, one each side, configured with wg like a user would."""

    def __init__(self, args, keys, idx, rep, client_kind, server_kind, env_extra):
        self.daemons = {}
        self.addr_a, self.addr_b = f"10.77.{idx}.1", f"10.77.{idx}.2"
        port = 51820 + idx
        (ka, _, pa), (kb, _, pb) = keys
        spec = {"a": (NS_A, f"w{rep}{idx}a{TAG}", client_kind, ka, pb, self.addr_a, self.addr_b,
                      UNDER_B),
                "b": (NS_B, f"w{rep}{idx}b{TAG}", server_kind, kb, pa, self.addr_b, self.addr_a,
                      UNDER_A)}
        try:
            for side, (ns, ifname, kind, key, peer, addr, peer_addr, peer_under) in spec.items():
                binary = args.weftd if kind == "weftd" else args.wireguard_go
                env = env_extra if kind == "weftd" else None
                self.daemons[side] = Daemon(ns, ifname, kind, binary, env)
                r = run(["wg", "set", ifname, "private-key", key, "listen-port", str(port),
                         "peer", peer, "allowed-ips", peer_addr + "/32",
                         "endpoint", f"{peer_under}:{port}"], ns=ns)
                if r.returncode != 0:
                    raise RuntimeError(f"wg set {ifname}: {r.stderr.strip()}")
                run(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", ifname], check=True)
                run(["ip", "-n", ns, "link", "set", ifname, "up"], check=True)
            if not wait_ping(NS_A, self.addr_b):
                raise RuntimeError("no handshake: ping through the tunnel fails")
        except Exception:
            self.close()
            raise

    def close(self):
        for d in self.daemons.values():
            d.stop()


def measure_config(args, cfg, keys, idx, rep):
    """All tests of one configuration once; returns the repetition's dict."""
    label, ck, sk, env_extra = cfg["label"], cfg["client"], cfg["server"], cfg.get("env", {})
    out = {}
    tunnel = None
    if ck:
        tunnel = Tunnel(args, keys, idx, rep, ck, sk, env_extra)
        daemons, addr = tunnel.daemons, tunnel.addr_b
        time.sleep(0.5)  # let the handshake's allocations settle before "idle"
        out["rss_idle"] = {s: d.mem()[0] for s, d in daemons.items()}
    else:
        daemons, addr = {}, UNDER_B
    try:
        out["ping_idle"] = ping(NS_A, addr)
        t, tu = args.seconds, args.udp_seconds
        delay = min(2.0, t / 3)

        def load_ping():
            time.sleep(delay)
            return {"ping": ping(NS_A, addr)}

        tests = [("tcp1_fwd", t, [], load_ping),
                 ("tcp1_rev", t, ["-R"], None),
                 ("tcp4_fwd", t, ["-P", "4"], None),
                 ("tcp4_rev", t, ["-P", "4", "-R"], None),
                 ("udp1g", tu, ["-u", "-b", "1G", "-l", str(UDP_LEN), "-w", str(args.udp_buf)],
                  None),
                 ("udp10g", tu, ["-u", "-b", "10G", "-l", str(UDP_LEN), "-w", str(args.udp_buf)],
                  None)]
        for name, secs, extra, during in tests:
            r = iperf(addr, secs, extra, daemons, during)
            if name == "tcp1_fwd":
                out["ping_load"] = r.pop("ping", [])
            out[name] = r
            dead = [d.kind for d in daemons.values() if not d.alive()]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} died during {name}")
            note = f" loss {r['loss']:.2f} %" if "loss" in r else ""
            log(f"  {label} rep {rep}: {name} {r.get('bps', 0) / 1e9:.3f} Gbit/s{note}"
                + (f" ERROR {r['error']}" if r.get("error") else ""))
        out["rss_peak"] = {s: d.mem()[1] for s, d in daemons.items()}
        pi, pl = median(out["ping_idle"]), median(out["ping_load"])
        log(f"  {label} rep {rep}: ping idle {pi} ms, under load {pl} ms, "
            f"peak RSS {out['rss_peak']} KiB")
    finally:
        if tunnel:
            tunnel.close()
    return out


# ---- perf profile -----------------------------------------------------------

def profile_weftd(args, keys, idx):
    """perf record of each weftd of a weftd<->weftd tunnel under a saturating
    TCP stream; returns per side the self time by thread name, by DSO and by
    symbol (percentages of that daemon's own samples)."""
    tunnel = Tunnel(args, keys, idx, 0, "weftd", "weftd", {})
    prof = {}
    try:
        secs = max(3, args.seconds)
        data = {s: os.path.join(args.tmp, f"perf-{s}.data") for s in tunnel.daemons}

        def rec():
            recs = [subprocess.Popen(["perf", "record", "-q", "-F", "999", "-g", "-o", data[s],
                                      "-p", str(d.pid), "--", "sleep", str(secs - 1)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    for s, d in tunnel.daemons.items()]
            errs = [p.communicate(timeout=secs + 30)[1] for p in recs]
            bad = [e.strip()[-300:] for p, e in zip(recs, errs) if p.returncode != 0]
            return {"perf_err": "; ".join(bad)} if bad else {}

        time.sleep(0.3)
        res = iperf(tunnel.addr_b, secs, [], tunnel.daemons, rec)
        prof["bps"] = res.get("bps")
        if res.get("perf_err"):
            prof["error"] = res["perf_err"]
            return prof
        for side in tunnel.daemons:
            for sort, limit in (("comm", 0), ("dso", 0.5), ("dso,sym", 1)):
                r = run(["perf", "report", "-i", data[side], "--stdio", "--no-children",
                         "-g", "none", "--sort", sort, "--percent-limit", str(limit)],
                        timeout=120)
                lines = [ln.rstrip() for ln in r.stdout.splitlines()
                         if ln.strip() and not ln.startswith("#")]
                prof[f"{side}_{sort}"] = lines[:args.perf_lines]
    finally:
        tunnel.close()
    return prof


# ---- scale run ----------------------------------------------------------------

def fake_peers(n, avoid):
    """n peers with random 32-byte public keys (any 32 bytes is a valid
    X25519 public value; nothing answers to them, and with no endpoint
    nothing is ever sent to them) and one /32 each in 10.128.0.0/9."""
    raw = os.urandom(32 * n)
    lines = []
    host = 0
    for i in range(n):
        host += 1
        while host in avoid:
            host += 1
        a = SCALE_NET + host
        key = base64.b64encode(raw[32 * i:32 * i + 32]).decode()
        lines.append(f"[Peer]\nPublicKey = {key}\nAllowedIPs = "
                     f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}/32\n")
    return "".join(lines)


def scale_case(args, keys, kind, npeers, idx):
    """One scale measurement: a device with a single real peer (the baseline
    RTT), then `wg setconf` of npeers peers (the real one among them)."""
    res = {"kind": kind, "peers": npeers}
    (ka, priv_a, pa), (kb, _, pb) = keys
    binary = args.weftd if kind == "weftd" else args.wireguard_go
    port = 52800 + idx
    ia, ib = f"ws{idx}a{TAG}", f"ws{idx}b{TAG}"
    addr_a, addr_b = "10.128.0.1", "10.128.0.2"
    daemons = []
    try:
        da = Daemon(NS_A, ia, kind, binary)
        daemons.append(da)
        db = Daemon(NS_B, ib, kind, binary)
        daemons.append(db)
        run(["wg", "set", ib, "private-key", kb, "listen-port", str(port), "peer", pa,
             "allowed-ips", addr_a + "/32", "endpoint", f"{UNDER_A}:{port}"], ns=NS_B, check=True)
        for ns, dev, addr in ((NS_A, ia, addr_a), (NS_B, ib, addr_b)):
            run(["ip", "-n", ns, "addr", "add", addr + "/9", "dev", dev], check=True)
            run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
        head = (f"[Interface]\nPrivateKey = {priv_a}\nListenPort = {port}\n\n"
                f"[Peer]\nPublicKey = {pb}\nAllowedIPs = {addr_b}/32\n"
                f"Endpoint = {UNDER_B}:{port}\n")
        single = os.path.join(args.tmp, "single.conf")
        many = os.path.join(args.tmp, f"scale-{npeers}.conf")
        for path, body in ((single, head), (many, head + fake_peers(npeers - 1, {1, 2}))):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(body)
        run(["wg", "setconf", ia, single], ns=NS_A, check=True)
        if not wait_ping(NS_A, addr_b):
            raise RuntimeError("no handshake with the single peer")
        res["rtt_single"] = ping(NS_A, addr_b)
        res["rss_single"] = da.mem()[0]
        cpu0, t0 = da.cpu(), time.monotonic()
        try:
            r = run(["wg", "setconf", ia, many], ns=NS_A, timeout=args.scale_timeout)
        except subprocess.TimeoutExpired:
            res["error"] = f"wg setconf did not finish in {args.scale_timeout} s"
            res["apply_s"] = None
            return res
        res["apply_s"] = time.monotonic() - t0
        cpu1 = da.cpu()
        res["apply_cpu_s"] = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        if r.returncode != 0:
            res["error"] = f"wg setconf failed: {r.stderr.strip()[-300:]}"
            return res
        res["rss_after"], res["rss_peak"] = da.mem()
        t0 = time.monotonic()
        try:
            r = run(["sh", "-c", f"wg show {ia} dump | wc -l"], ns=NS_A, timeout=args.scale_timeout)
            res["dump_s"] = time.monotonic() - t0
            res["dump_lines"] = int(r.stdout.strip() or 0)
        except subprocess.TimeoutExpired:
            res["dump_s"] = None
            res["error"] = f"wg show dump did not finish in {args.scale_timeout} s"
        # setconf replaced the peer: a new handshake first, then the RTT
        if not wait_ping(NS_A, addr_b, 20):
            res["error"] = "no traffic through the tunnel after setconf"
            return res
        res["rtt_after"] = ping(NS_A, addr_b)
        res["rss_end"] = da.mem()[0]
        return res
    except Exception as e:  # a failed case is reported, the run goes on
        res["error"] = str(e)
        return res
    finally:
        for d in daemons:
            d.stop()
        for f in ("single.conf", f"scale-{npeers}.conf"):
            try:
                os.unlink(os.path.join(args.tmp, f))
            except OSError:
                pass


def scale_run(args, keys):
    cases = [("weftd", 65535), ("wireguard-go", 65535)]
    if args.million:
        cases.append(("weftd", args.million))
    out = []
    for i, (kind, n) in enumerate(cases):
        if kind == "weftd" and n > 65535:
            prev = next((c for c in out if c["kind"] == "weftd" and c.get("apply_s")), None)
            guess = prev["apply_s"] * n / prev["peers"] if prev else None
            if prev is None or guess > args.scale_timeout * 2:
                why = ("65,535 peers failed" if prev is None else
                       f"65,535 peers took {prev['apply_s']:.1f} s, so {n:,} would take "
                       f"about {guess:.0f} s")
                log(f"scale: skipping {kind} {n:,} peers: {why}")
                out.append({"kind": kind, "peers": n, "skipped": why})
                continue
        log(f"scale: {kind}, {n:,} peers")
        r = scale_case(args, keys, kind, n, i)
        log("scale:   " + json.dumps(
            {k: v for k, v in r.items() if not k.startswith("rtt")}) +
            f" rtt single {median(r.get('rtt_single', []))} ms,"
            f" after {median(r.get('rtt_after', []))} ms")
        out.append(r)
    return out


# ---- AEAD floor -----------------------------------------------------------------

def aead_floor(path):
    """Seal + open of one 1420-byte packet from weft's crypto benchmark, as
    CPU seconds per GB carried through a tunnel (one end seals, the other
    opens)."""
    r = run([path], timeout=300)
    rows = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1] == "1420":
            try:
                rows[cells[0]] = (float(cells[2]), float(cells[4]))
            except ValueError:
                pass
    if not rows:
        return {"error": f"no 1420-byte row in the output of {path}"}
    name = next((n for n in rows if "weft" in n), min(rows, key=lambda n: sum(rows[n])))
    seal, opn = rows[name]
    return {"backend": name, "seal_ns": seal, "open_ns": opn, "bytes": 1420,
            "s_per_gb": (seal + opn) / 1420, "all": rows}


# ---- machine ----------------------------------------------------------------------

def machine_info(args, weftd_src):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])

    def ver(cmd):
        try:
            r = run(cmd, timeout=10)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"
    commit = run(["git", "-C", ROOT, "describe", "--always", "--dirty"]).stdout.strip()
    # untracked sources are built too (the Makefile takes src/*/*.c by wildcard)
    if run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "include"]).stdout.strip():
        commit += " with uncommitted changes in src/ or include/"
    wgo = run(["dpkg-query", "-W", "-f=${Version}", "wireguard-go"]).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": os.uname().release,
            "mem_gib": round(mem_kib / 2**20, 1), "hostname": socket.gethostname(),
            "iperf3": ver(["iperf3", "--version"]), "wireguard-go": wgo or "unknown",
            "weft_commit": commit or "unknown", "weftd": weftd_src,
            "weftd_sha256": sha256_of(args.weftd),
            "weftd_mtime": time.strftime("%Y-%m-%d %H:%M:%S",
                                         time.localtime(os.path.getmtime(args.weftd)))
            if os.path.exists(args.weftd) else None,
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}


def sha256_of(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


# ---- main ---------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(
        prog="bench/net/run", description="weft's network benchmark (issue 9); run as root.")
    p.add_argument("--quick", action="store_true",
                   help="1 repetition of 3 s, scale run of 65,535 peers only (a few minutes)")
    p.add_argument("--reps", type=int, help="repetitions (default 5, --quick 1)")
    p.add_argument("--seconds", type=int, help="length of each TCP test (default 10, --quick 3)")
    p.add_argument("--udp-seconds", type=int, help="length of each UDP test (default 5, --quick 3)")
    p.add_argument("--configs", default=DEFAULT_CONFIGS,
                   help=f"comma-separated, from {','.join(CONFIGS)} (default {DEFAULT_CONFIGS})")
    p.add_argument("--variant", action="append", default=[], metavar="LABEL:VAR=VAL[,VAR=VAL]",
                   help="add a weftd<->weftd configuration with these environment variables "
                        "(e.g. an offload switched off); repeatable")
    p.add_argument("--no-scale", action="store_true", help="skip the wg setconf scale run")
    p.add_argument("--no-million", action="store_true", help="skip the 1,000,000-peer case")
    p.add_argument("--only-scale", action="store_true", help="run the scale run alone")
    p.add_argument("--no-perf", action="store_true", help="skip the perf profile of weftd")
    p.add_argument("--perf-lines", type=int, default=25, help="symbols shown per daemon")
    p.add_argument("--scale-timeout", type=int, default=150,
                   help="seconds a setconf or dump may take before the case is given up")
    p.add_argument("--weftd", default=os.path.join(ROOT, "build", "weftd"))
    p.add_argument("--wireguard-go", default="/usr/bin/wireguard-go")
    p.add_argument("--crypto-bench", default=os.path.join(ROOT, "build", "bench", "crypto_bench"))
    p.add_argument("--out", help="the Markdown report; the chart goes beside it as .png "
                                 f"(default {REPORT}, or with --quick the scratch directory, "
                                 "so that a quick look does not replace the full run's report)")
    p.add_argument("--json", help="where to keep the raw results (default: a scratch "
                                  "directory under /tmp, printed at the end)")
    p.add_argument("--report-only", metavar="JSON",
                   help="render the report from a results file of an earlier run")
    p.add_argument("--no-build", action="store_true", help="(for bench/net/run) do not run make")
    a = p.parse_args()
    a.reps = a.reps or (1 if a.quick else 5)
    a.seconds = a.seconds or (3 if a.quick else 10)
    a.udp_seconds = a.udp_seconds or (3 if a.quick else 5)
    a.million = 0 if (a.no_million or a.quick) else 1000000
    a.weftd = os.path.abspath(a.weftd)
    cfgs = []
    for key in [k.strip() for k in a.configs.split(",") if k.strip()]:
        if key not in CONFIGS:
            p.error(f"unknown configuration {key}")
        label, c, s = CONFIGS[key]
        cfgs.append({"key": key, "label": label, "client": c, "server": s})
    for v in a.variant:
        label, _, envs = v.partition(":")
        env = dict(e.split("=", 1) for e in envs.split(",") if "=" in e)
        if not label or not env:
            p.error(f"--variant {v}: expected LABEL:VAR=VAL[,VAR=VAL]")
        cfgs.append({"key": "weft-weft-" + label, "label": f"weftd ↔ weftd ({label})",
                     "client": "weftd", "server": "weftd", "env": env})
    a.cfgs = cfgs
    return a


def udp_buffer():
    """UDP_SOCKBUF, unless the kernel would clamp it (iperf3 then fails)."""
    lim = []
    for name in ("rmem_max", "wmem_max"):
        try:
            with open(f"/proc/sys/net/core/{name}") as f:
                lim.append(int(f.read()))
        except OSError:
            pass
    return min([UDP_SOCKBUF] + lim)


def main():
    args = parse_args()
    if args.report_only:
        args.out = args.out or REPORT
        with open(args.report_only) as f:
            results = json.load(f)
        report.write(results, args.out)
        log(f"wrote {args.out}")
        return 0
    if os.geteuid() != 0:
        sys.exit("bench/net/run: needs root")
    for tool in ("iperf3", "wg", "ping", "ip", "ss"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], stdout=subprocess.DEVNULL).returncode:
            sys.exit(f"bench/net/run: {tool} is missing (bench/net/run installs it)")
    for kind, path in (("weftd", args.weftd), ("wireguard-go", args.wireguard_go)):
        if any(kind in (c["client"], c["server"]) for c in args.cfgs) and not os.access(path, os.X_OK):
            sys.exit(f"bench/net/run: {path} is missing")
    args.udp_buf = udp_buffer()
    args.tmp = tempfile.mkdtemp(prefix="weft-bench.")
    args.out = args.out or (os.path.join(args.tmp, "performance.md") if args.quick else REPORT)
    # run a private copy: others may rebuild build/weftd while this runs, and
    # one run must measure one binary
    weftd_src = args.weftd
    if os.access(args.weftd, os.X_OK):
        shutil.copy2(args.weftd, os.path.join(args.tmp, "weftd"))
        args.weftd = os.path.join(args.tmp, "weftd")
    t_start = time.time()
    results = {
        "command": os.environ.get("WEFT_BENCH_COMMAND") or
        "bench/net/run " + shlex.join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine_info(args, weftd_src),
        "settings": {"reps": args.reps, "seconds": args.seconds, "udp_seconds": args.udp_seconds,
                     "udp_len": UDP_LEN, "udp_sockbuf": args.udp_buf, "ping_count": PING_COUNT,
                     "ping_interval": PING_INTERVAL, "quick": args.quick},
        "configs": args.cfgs, "runs": {c["key"]: [] for c in args.cfgs}, "errors": [],
        "phases": {},
    }
    json_path = args.json or os.path.join(args.tmp, "results.json")

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        log(f"namespaces {NS_A} {NS_B}; scratch {args.tmp}")
        make_underlay()
        keys = (keypair(args.tmp, "a"), keypair(args.tmp, "b"))
        t = time.time()
        if os.access(args.crypto_bench, os.X_OK):
            results["aead"] = aead_floor(args.crypto_bench)
            log(f"AEAD floor: {results['aead']}")
        else:
            results["aead"] = {"error": f"{args.crypto_bench} is missing"}
        results["phases"]["aead"] = time.time() - t
        if not args.only_scale:
            t = time.time()
            for rep in range(1, args.reps + 1):
                for idx, cfg in enumerate(args.cfgs, 1):
                    try:
                        results["runs"][cfg["key"]].append(measure_config(args, cfg, keys, idx, rep))
                    except (RuntimeError, subprocess.SubprocessError) as e:
                        log(f"  {cfg['label']} rep {rep}: FAILED: {e}")
                        results["errors"].append(f"{cfg['label']}, repetition {rep}: {e}")
                        results["runs"][cfg["key"]].append({"error": str(e)})
            results["phases"]["throughput"] = time.time() - t
            if not args.no_perf and any(c["key"] == "weft-weft" for c in args.cfgs):
                t = time.time()
                log("perf profile of weftd <-> weftd under one TCP stream")
                try:
                    results["profile"] = profile_weftd(args, keys, len(args.cfgs) + 1)
                except (RuntimeError, subprocess.SubprocessError) as e:
                    results["profile"] = {"error": str(e)}
                results["phases"]["profile"] = time.time() - t
        if not args.no_scale:
            t = time.time()
            results["scale"] = scale_run(args, keys)
            results["phases"]["scale"] = time.time() - t
    except KeyboardInterrupt:
        log("interrupted: writing what was measured")
        results["errors"].append("interrupted before the end")
    finally:
        remove_underlay()
        results["elapsed_s"] = time.time() - t_start
        results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)
        for name in os.listdir(args.tmp):
            if name != "results.json":
                os.unlink(os.path.join(args.tmp, name))
    if "interrupted before the end" in results["errors"]:
        # a partial run does not replace the report of a whole one
        args.out = os.path.join(args.tmp, os.path.basename(args.out))
    report.write(results, args.out)
    log(f"wrote {args.out} and its chart; raw results in {json_path}; "
        f"took {results['elapsed_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
