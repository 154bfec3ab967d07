"""SSE fan-out load client for bench/sse-fanout.sh.

Opens READERS concurrent `GET /changes/stream` connections to one `threddex serve`, then appends
CHANGES change-log entries to the server's SQLite database, one every INTERVAL seconds, each
committed by its own transaction exactly as the store's write path appends (the head row's
position, then the entry), with the commit time as the entry's `at`. Every reader reads the
SSE events (their `id:` lines); the latency of an event at a reader is its arrival time minus the commit time.
Meanwhile the server's resident memory (VmRSS of SERVE_PID) is sampled.

Prints: readers connected, events expected / received, latency percentiles over all
(reader, event) pairs, the share within 1 s, the slowest event's worst reader, and RSS before
the readers, with the readers connected, during and after the changes.

Standard library only (asyncio, sqlite3).
"""

import argparse
import asyncio
import sqlite3
import statistics
import time


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Reader:
    def __init__(self):
        self.arrivals = {}  # event id -> arrival time
        self.connected = False
        self.error = None


async def read_stream(host, port, reader_state, ready, stop):
    try:
        r, w = await asyncio.open_connection(host, port, limit=1 << 20)
        w.write(
            f"GET /changes/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await w.drain()
        status = await r.readline()
        if b" 200 " not in status:
            reader_state.error = status.decode(errors="replace").strip()
            ready.release()
            return
        while (await r.readline()) not in (b"\r\n", b"\n", b""):
            pass
        reader_state.connected = True
        ready.release()
        # Chunked transfer: lines of the chunks; only `data:` lines matter and the chunk-size
        # lines never start with `data:`.
        while not stop.is_set():
            line = await r.readline()
            if not line:
                break
            # The `id:` line of an event carries its position (the `data:` line that follows
            # is the CloudEvent; parsing 200,000 of them would make the client the bottleneck).
            if line.startswith(b"id:"):
                reader_state.arrivals[int(line[3:])] = time.time()
        w.close()
    except Exception as e:  # noqa: BLE001 - any failure is reported per reader
        reader_state.error = repr(e)
        ready.release()


def append_change(db, n):
    """One transaction: take the next position from the head row, insert the entry."""
    cur = db.cursor()
    cur.execute("BEGIN IMMEDIATE")
    (seq,) = cur.execute(
        "UPDATE change_log_head SET seq = seq + 1 WHERE one = 1 RETURNING seq"
    ).fetchone()
    at = time.time()
    cur.execute(
        "INSERT INTO change_log (seq, at, collection_id, kind, count, start_time, end_time, granule_ids) "
        "VALUES (?, ?, ?, 'granules.added', 1, ?, ?, NULL)",
        (seq, at, f"bench:fanout/c{n % 10}", at, at),
    )
    cur.execute("COMMIT")
    return seq, at


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", required=True, help="the SQLite file serve uses")
    p.add_argument("--serve-pid", type=int, required=True)
    p.add_argument("--readers", type=int, default=1000)
    p.add_argument("--changes", type=int, default=200)
    p.add_argument("--interval", type=float, default=0.1)
    a = p.parse_args()

    host = "127.0.0.1"
    rss_idle = rss_mb(a.serve_pid)
    states = [Reader() for _ in range(a.readers)]
    ready = asyncio.Semaphore(0)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(read_stream(host, a.port, s, ready, stop)) for s in states]
    for _ in states:
        await asyncio.wait_for(ready.acquire(), timeout=60)
    connected = sum(s.connected for s in states)
    errors = [s.error for s in states if s.error]
    await asyncio.sleep(1.0)
    rss_connected = rss_mb(a.serve_pid)

    db = sqlite3.connect(a.db, isolation_level=None, timeout=30, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 30000")
    committed = {}
    rss_during = []
    for n in range(a.changes):
        seq, at = await asyncio.to_thread(append_change, db, n)
        committed[seq] = at
        if n % max(1, a.changes // 10) == 0:
            rss_during.append(rss_mb(a.serve_pid))
        await asyncio.sleep(a.interval)
    # Let the last events arrive (at most 5 s).
    deadline = time.time() + 5
    while time.time() < deadline:
        if all(len(s.arrivals) >= len(committed) for s in states if s.connected):
            break
        await asyncio.sleep(0.1)
    rss_after = rss_mb(a.serve_pid)
    stop.set()
    for t in tasks:
        t.cancel()

    latencies = []
    missing = 0
    worst_by_event = {}
    for s in states:
        if not s.connected:
            continue
        for seq, at in committed.items():
            got = s.arrivals.get(seq)
            if got is None:
                missing += 1
                continue
            lat = got - at
            latencies.append(lat)
            worst_by_event[seq] = max(worst_by_event.get(seq, 0.0), lat)
    latencies.sort()

    def pct(q):
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    within = sum(1 for x in latencies if x <= 1.0)
    print(f"readers connected: {connected}/{a.readers}" + (f" (errors: {errors[:3]})" if errors else ""))
    print(f"changes committed: {len(committed)} (one every {a.interval * 1000:.0f} ms)")
    print(f"deliveries expected: {connected * len(committed)}, received: {len(latencies)}, missing: {missing}")
    if latencies:
        print(
            "latency commit -> reader (ms): "
            f"p50 {pct(0.50):.0f}  p90 {pct(0.90):.0f}  p99 {pct(0.99):.0f}  max {latencies[-1] * 1000:.0f}  "
            f"mean {statistics.mean(latencies) * 1000:.0f}"
        )
        print(f"within 1 s: {within}/{len(latencies)} ({100 * within / len(latencies):.2f} %)")
        events_all_within = sum(1 for v in worst_by_event.values() if v <= 1.0)
        print(f"events reaching every reader within 1 s: {events_all_within}/{len(committed)}")
    print(
        f"serve RSS (MB): idle {rss_idle:.1f}  {connected} readers connected {rss_connected:.1f}  "
        f"during changes max {max(rss_during):.1f}  after {rss_after:.1f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
