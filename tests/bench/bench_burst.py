#!/usr/bin/python3
"""Benchmark: time to the code during a burst of logins. Many logins
start at once; for each, the time from "a code was sent" (the moment
mfad's AUTH_START reply, "code sent", reaches the client: the code is
then queued) to the moment the relay accepted the message (its answer to
the end of DATA).

The relay is a real aiosmtpd server with STARTTLS (a CA and a server
certificate made at run time), AUTH (mfad's auth_file) and PIPELINING
announced as common relays do, reached
through a TCP proxy of this script that delays each direction by half
the round trip, in byte order: 0, 25 and 100 ms of round trip. The relay
and the proxy run in a child process of their own, so that the logins
started here do not slow them.

Scenarios: N logins started at once (threads released together), and
M logins spread evenly over S seconds. A fresh mfad and fresh accounts
for each (mfad_load -m add), so nothing of one scenario is still in the
outbox of the next.

Then both again at the farthest round trip with --far-connections
sessions at once (32; 0: not), what an administrator there can set; and
with a relay that offers CHUNKING (BDAT, RFC 3030), as Postfix and Exim
do by default, at mfad's default sessions (--far-chunking 0: not).

  tests/bench/bench_burst.py [--rtt MS,...] [--burst N] [--spread M]
                             [--seconds S] [--wait W] [--connections N]
                             [--far-connections N] [--far-chunking 0|1]
                             [--quick]
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import benchlib as b
from benchlib import h

REQ_AUTH_START, REP_AUTH, CODE_SENT = 2, 101, 2
RELAY_USER, RELAY_PASS = "mailer", "bench relay secret"


# ------------------------------------------------------------------ relay
# (the child process: python3 bench_burst.py --serve DIR RTT_MS)

class PipeliningHandler(h._Handler):
    """Announces PIPELINING, as Postfix and Exim do: aiosmtpd reads
    pipelined commands in order, but does not say so; and CHUNKING when
    the relay serves BDAT (ChunkingSMTP)."""

    def __init__(self, sink, chunking=False):
        super().__init__(sink)
        self.chunking = chunking

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        more = ["250-PIPELINING"] + (["250-CHUNKING"] if self.chunking
                                     else [])
        return responses[:-1] + more + responses[-1:]


def chunking_smtp():
    """aiosmtpd's SMTP with RFC 3030 BDAT, which aiosmtpd lacks and
    Postfix (3.4 and later) and Exim (4.88 and later) offer by default:
    each chunk is read whole, then answered; the last one hands the
    message to the handler as DATA does."""
    from aiosmtpd.smtp import MISSING, SMTP

    class ChunkingSMTP(SMTP):
        async def smtp_BDAT(self, arg):
            if await self.check_helo_needed() or \
                    await self.check_auth_needed("BDAT"):
                return
            words = (arg or "").split()
            if not 1 <= len(words) <= 2 or not words[0].isdigit() or \
                    (len(words) == 2 and words[1].upper() != "LAST"):
                # The size is unknown: the chunk cannot be skipped.
                await self.push("501 Syntax: BDAT size [LAST]")
                self.transport.close()
                return
            data = await self._reader.readexactly(int(words[0]))
            if not self.envelope.rcpt_tos:
                await self.push("503 Error: need RCPT command")
                return
            chunks = self.envelope.__dict__.setdefault("chunks", [])
            chunks.append(data)
            if len(words) == 1:
                await self.push("250 2.0.0 %d octets received" %
                                len(data))
                return
            content = b"".join(chunks)
            self.envelope.original_content = content
            self.envelope.content = content.decode(
                "utf-8", errors="surrogateescape") if self._decode_data \
                else content
            status = await self._call_handler_hook("DATA")
            self._set_post_data_state()
            await self.push("250 OK" if status is MISSING else status)

    return ChunkingSMTP


class Recorder(h.RelayServer):
    """A RelayServer that keeps, per accepted message, when it was
    accepted and to whom."""

    def __init__(self, chunking=False, **kw):
        super().__init__(**kw)
        self.accepted = []
        self.chunking = chunking

    def start(self):
        from aiosmtpd.controller import Controller
        server = chunking_smtp() if self.chunking else None

        class Relay(Controller):
            def factory(self):
                if server is None:
                    return super().factory()
                return server(self.handler, **self.SMTP_kwargs)

        c = Relay(PipeliningHandler(self, self.chunking),
                  hostname="127.0.0.1", port=self.port,
                  tls_context=self.tls_context,
                  require_starttls=self.require_starttls,
                  authenticator=self._authenticate,
                  auth_required=True, auth_require_tls=True)
        c.start()
        self._controller = c

    def _store(self, envelope):
        t = time.time()
        with self._cond:
            for r in envelope.rcpt_tos:
                self.accepted.append((t, r.lower()))


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk `delay` seconds after it was
    read, in order."""
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()

    async def read():
        while True:
            data = await reader.read(65536)
            await q.put((loop.time() + delay, data))
            if not data:
                return

    async def write():
        while True:
            due, data = await q.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                try:
                    writer.write_eof()
                except OSError:
                    pass
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(read(), write())
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def proxy(port, target, delay):
    async def serve(cr, cw):
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, uw, delay), pump(ur, cw, delay))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def serve(directory, rtt_ms, chunking):
    ca, cert, key = h.make_tls(directory, "localhost")
    relay = Recorder(chunking=chunking,
                     tls_context=h.server_tls_context(cert, key),
                     require_starttls=True,
                     credentials=(RELAY_USER, RELAY_PASS))
    relay.start()
    port = h.free_port()
    t = threading.Thread(target=lambda: asyncio.run(
        proxy(port, relay.port, rtt_ms / 2000.0)), daemon=True)
    t.start()
    print(json.dumps({"port": port, "ca": str(ca)}), flush=True)
    for line in sys.stdin:
        if line.strip() == "dump":
            with relay._cond:
                out = list(relay.accepted)
            print(json.dumps(out), flush=True)
        elif line.strip() == "quit":
            break
    relay.stop()


# ------------------------------------------------------------------ logins

def auth_start(env, i):
    """One login of account i up to "code sent"; returns the time of the
    reply, or None when it was anything else."""
    user = "u%07d" % i
    payload = b"".join(h.pstr(s) for s in (
        "mss-bench", user, user + "@example.org", h.PASSWORD,
        "", "10.9.%d.%d" % (i // 256 % 256, i % 256), "", "en")) + \
        (0).to_bytes(4, "big")
    try:
        rep = h.raw_request(env.sock, REQ_AUTH_START, payload, timeout=60)
    except OSError:
        return None
    t = time.time()
    if rep is None or rep[0] != REP_AUTH or rep[1][0] != CODE_SENT:
        return None
    return t


def start_logins(env, first, n, seconds):
    """Starts logins of accounts first..first+n-1: all at once (seconds
    0) or spread evenly over seconds. Returns {address: time sent}."""
    sent, lock = {}, threading.Lock()
    gate = threading.Barrier(n) if seconds == 0 else None
    t0 = time.monotonic() + 0.5

    def one(k):
        if gate is not None:
            gate.wait()
        else:
            d = t0 + k * seconds / n - time.monotonic()
            if d > 0:
                time.sleep(d)
        t = auth_start(env, first + k)
        if t is not None:
            with lock:
                sent["u%07d@example.org" % (first + k)] = t

    # One thread a login of the burst; the spread ones by a pool of
    # threads, each asleep until its login's time.
    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)] \
        if gate is not None else []
    if gate is None:
        pool = min(n, 200)

        def worker(w):
            for k in range(w, n, pool):
                one(k)
        threads = [threading.Thread(target=worker, args=(w,))
                   for w in range(pool)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sent


def scenario(tool, rtt, n, seconds, wait, connections=None,
             chunking=False):
    """One scenario with a fresh relay (offering CHUNKING when asked),
    proxy and mfad; returns
    (latencies in ms, logins refused, messages not accepted in time,
    mfad's resident memory outside the LMDB map once idle after it)."""
    tmp = tempfile.mkdtemp(prefix="mss-burst-")
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                              "--serve", tmp, str(rtt),
                              "chunking" if chunking else "data"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    env = None
    try:
        ready = json.loads(child.stdout.readline())
        auth = os.path.join(tmp, "auth")
        with open(auth, "w") as f:
            f.write("%s\n%s\n" % (RELAY_USER, RELAY_PASS))
        os.chmod(auth, 0o600)
        mail = {"smtp": "localhost:%d" % ready["port"], "tls": "starttls",
                "ca_file": ready["ca"], "auth_file": auth}
        if connections:
            mail["connections"] = connections
        sink, env = b.bench_env({"mail": mail})
        env.start()
        b.load(tool, env, 0, "add", clients=8, accounts=n)
        h.wait_until(lambda: env.ctl_json("status").get("outbox", 0) == 0,
                     timeout=wait, what="an empty outbox")
        begin = time.time()
        sent = start_logins(env, 0, n, seconds)
        deadline = time.monotonic() + wait
        while True:
            child.stdin.write("dump\n")
            child.stdin.flush()
            got = {}
            for t, rcpt in json.loads(child.stdout.readline()):
                if t >= begin:
                    got.setdefault(rcpt, t)
            if all(a in got for a in sent) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        lat = sorted((got[a] - t) * 1000 for a, t in sent.items()
                     if a in got)
        missing = sum(1 for a in sent if a not in got)
        # A message not accepted within the wait counts as the wait: the
        # figures are then lower bounds.
        lat += [wait * 1000.0] * missing
        # Idle after the burst: the outbox empty, its sessions over.
        h.wait_until(lambda: env.ctl_json("status").get("outbox", 0) == 0,
                     timeout=wait, what="an empty outbox")
        time.sleep(1)
        rss = b.rss_outside_map_kib(env.mfad.proc.pid)
        return sorted(lat), n - len(sent), missing, rss
    finally:
        if env is not None:
            env.close()
        try:
            child.stdin.write("quit\n")
            child.stdin.flush()
        except OSError:
            pass
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--rtt", default="0,25,100")
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--spread", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--wait", type=float, default=120)
    ap.add_argument("--connections", type=int, default=0,
                    help="[mail] connections (default: mfad's)")
    ap.add_argument("--far-connections", type=int, default=32,
                    help="then the farthest relay again with this "
                    "[mail] connections (0: not)")
    ap.add_argument("--far-chunking", type=int, default=1,
                    help="then the farthest relay again, offering "
                    "CHUNKING (0: not)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], float(args.serve[1]),
              args.serve[2] == "chunking")
        return
    if args.quick:
        args.rtt, args.burst, args.spread, args.seconds, args.wait = \
            "25", 20, 0, 0, 60
        args.far_connections = 0
    tool = b.mfad_load()
    runs = [(args.burst, 0)]
    if args.spread:
        runs.append((args.spread, args.seconds))
    rtts = [int(x) for x in args.rtt.split(",")]
    plan = [(rtt, n, secs, args.connections, False) for rtt in rtts
            for n, secs in runs]
    # The farthest relay with more sessions at once: what an
    # administrator there can set.
    if args.far_connections:
        plan += [(max(rtts), n, secs, args.far_connections, False)
                 for n, secs in runs]
    # And a relay that offers CHUNKING, as most do.
    if args.far_chunking:
        plan += [(max(rtts), n, secs, args.connections, True)
                 for n, secs in runs]
    idle = None
    for rtt, n, secs, conns, chunking in plan:
        lat, refused, missing, rss = scenario(
            tool, rtt, n, secs, args.wait, conns, chunking)
        if idle is None:
            idle = (n, rtt, rss)
        what = "%d logins at once" % n if secs == 0 else \
            "%d logins within %g s" % (n, secs)
        extra = conns != args.connections
        notes = []
        if refused:
            notes.append("%d logins got no code" % refused)
        if missing:
            notes.append("%d not accepted within %g s: lower bounds" %
                         (missing, args.wait))
        r = {"bench": "time to the code, %s, relay at %d ms RTT "
             "(STARTTLS, AUTH%s%s): p50 (median), p99, max" % (
                 what, rtt, ", CHUNKING" if chunking else "",
                 ", [mail] connections = %d" % conns if extra else ""),
             "unit": "ms", "runs": 1,
             "median": b.percentile(lat, 50), "p99":
             b.percentile(lat, 99), "min": lat[0] if lat else 0.0,
             "max": lat[-1] if lat else 0.0,
             "key": "burst_%d_%d%s%s" % (
                 rtt, n, "_c%d" % conns if extra else "",
                 "_k" if chunking else "")}
        if notes:
            r["note"] = "; ".join(notes)
        print(json.dumps(r), flush=True)
    # The memory of an mfad that has mailed through STARTTLS, as most
    # relays want: OpenSSL's state, and every mail thread's.
    b.row("mfad resident memory outside the LMDB map, idle after %d mails "
          "through STARTTLS and AUTH (relay at %d ms RTT)" % idle[:2], "KiB",
          [idle[2]], key="rss_burst_idle")


if __name__ == "__main__":
    main()
