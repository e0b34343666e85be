#!/usr/bin/env python3
"""Compares commands that take about a millisecond by alternating them, run after run.

hyperfine runs all of one command's runs, then all of the next one's; on this machine a
millisecond process drifts by a few per cent over that time, as much as the changes being
compared. Alternating the commands (ABAB…, reversed every other round) puts the same drift on
each. Prints each command's median wall time and its difference from the first one's. The times
include starting the process from Python (about 0.1 ms), the same for each command.

Usage: scripts/ab.py RUNS 'COMMAND A' 'COMMAND B' [...]
"""
import os
import shlex
import statistics
import sys
import time


def run(argv, devnull):
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ,
                          file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    os.waitpid(pid, 0)
    return time.perf_counter_ns() - start


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    commands = [shlex.split(c) for c in sys.argv[2:]]
    devnull = os.open(os.devnull, os.O_WRONLY)
    for _ in range(20):  # warm-up
        for c in commands:
            run(c, devnull)
    times = [[] for _ in commands]
    for i in range(runs):
        order = range(len(commands)) if i % 2 == 0 else reversed(range(len(commands)))
        for j in order:
            times[j].append(run(commands[j], devnull))
    base = statistics.median(times[0])
    for c, t in zip(sys.argv[2:], times):
        m = statistics.median(t)
        print(f"{m / 1e6:8.3f} ms  {100 * (m / base - 1):+6.1f} %  {c}")


if __name__ == "__main__":
    main()
