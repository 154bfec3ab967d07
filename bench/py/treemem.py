"""Peak memory of a process and all its descendants, sampled from /proc (Linux).

    python3 treemem.py PID [--interval 0.05]

Polls until PID exits, then prints the largest sum over the process tree of each process's
proportional set size (Pss from /proc/PID/smaps_rollup: pages shared between forked workers are
split among them, so they are counted once in the sum; VmRSS when Pss cannot be read), in kB.
/usr/bin/time reports the largest single process; this counts worker processes too
(thredds_crawler runs a pool of processes).
"""

import argparse
import os
import time


def children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: split after the last ')'
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) > 1:
            kids.setdefault(int(rest[1]), []).append(int(entry))
    return kids


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss(root):
    kids = children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss_kb(pid)
        stack.extend(kids.get(pid, []))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pid", type=int)
    ap.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()
    peak = 0
    while os.path.exists(f"/proc/{args.pid}"):
        peak = max(peak, tree_rss(args.pid))
        time.sleep(args.interval)
    print(peak)


if __name__ == "__main__":
    main()
