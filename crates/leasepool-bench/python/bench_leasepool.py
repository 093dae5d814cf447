"""The Python original (leasepool 0.1.3 from PyPI) in the scenarios it has.

Run by `cargo xtask bench` (through the `leasepool-bench` binary) from a venv
under target/bench/pyenv, one scenario per invocation so that its runs are
interleaved with the Rust implementations'. Prints one machine-readable line:

    RESULT<TAB>scenario<TAB>value<TAB>unit<TAB>detail

or, when the package cannot be imported, `SKIP<TAB>reason` on stderr and
exit status 2 (the Rust side reports the tail of stderr on a nonzero exit).

Scenarios (same shapes as the Rust side, see crates/leasepool-bench/src/scenarios/):

* s1-nowait: `await manager.acquire(wait=False)` + `await lease.release()` in
  a loop on one task, no work: ns per cycle (the peer of `try_acquire`).
* s1-wait: the same with `await manager.acquire()`, the waiting form (a pool
  is always free, so it returns at once; the peer of `acquire`).
* s2: 64 tasks, each loop: acquire, `await lease.run(x + 1)`, release: jobs/s.
* s4: `WorkGrinder` (batch_size_threshold=256, max_wait_seconds=0.001),
  64 tasks each keeping `--window` items in flight via `enqueue`: jobs/s.
* s12: the process backend (`backend="process"`, 1 pool x 2 workers), one
  held lease, `--window` `lease.run(x + 1)` in flight: jobs/s.

The manager of s1, s2 and s4 is the same shape as the Rust one: 4 pools x 2 workers,
min_pools=4 so the pools exist before timing starts. The API used is the one
in site-packages/leasepool/{manager,grinder}.py of 0.1.3.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time

try:
    import importlib.metadata as metadata

    import leasepool
except ImportError as exc:  # pragma: no cover - reported to the Rust side
    print(f"SKIP\tleasepool not importable: {exc}", file=sys.stderr)
    sys.exit(2)


def _inc(x: int) -> int:
    return x + 1


def _manager() -> leasepool.LeasedExecutorManager:
    return leasepool.LeasedExecutorManager(max_pools=4, min_pools=4, workers_per_pool=2)


async def s1(seconds: float, wait: bool) -> tuple[float, str]:
    manager = _manager()
    await manager.start()
    try:

        async def cycles(n: int) -> float:
            t0 = time.perf_counter()
            for _ in range(n):
                lease = await manager.acquire(wait=wait)
                await lease.release()
            return time.perf_counter() - t0

        n = 64
        while True:  # calibrate to ~seconds
            d = await cycles(n)
            if d >= seconds / 10:
                break
            n *= 4
        n = max(1, int(n * seconds / d))
        d = await cycles(n)
        return d * 1e9 / n, f"cycles={n}"
    finally:
        await manager.stop()


async def _throughput(seconds: float, tasks: int, body) -> tuple[float, str]:
    stop = False

    def stopped() -> bool:
        return stop

    t0 = time.perf_counter()
    running = [asyncio.create_task(body(i, stopped)) for i in range(tasks)]
    await asyncio.sleep(seconds)
    stop = True
    counts = await asyncio.gather(*running)
    elapsed = time.perf_counter() - t0
    total = sum(counts)
    return total / elapsed, f"jobs={total} elapsed={elapsed:.3f}s"


async def s2(seconds: float) -> tuple[float, str]:
    manager = _manager()
    await manager.start()

    async def body(i: int, stopped) -> int:
        n = 0
        while not stopped():
            lease = await manager.acquire()
            try:
                await lease.run(_inc, i)
            finally:
                await lease.release()
            n += 1
        return n

    try:
        return await _throughput(seconds, 64, body)
    finally:
        await manager.stop()


async def s4(seconds: float, window: int) -> tuple[float, str]:
    manager = _manager()
    await manager.start()
    grinder = leasepool.WorkGrinder(
        executor_manager=manager, batch_size_threshold=256, max_wait_seconds=0.001
    )
    await grinder.start()

    async def body(i: int, stopped) -> int:
        n = 0
        in_flight: collections.deque = collections.deque()
        while not stopped():
            if len(in_flight) >= window:
                await in_flight.popleft()
                n += 1
            in_flight.append(await grinder.enqueue(_inc, i))
        while in_flight:
            await in_flight.popleft()
            n += 1
        return n

    try:
        return await _throughput(seconds, 64, body)
    finally:
        await grinder.stop()
        await manager.stop()


async def s12(seconds: float, window: int) -> tuple[float, str]:
    manager = leasepool.LeasedExecutorManager(backend="process", max_pools=1, min_pools=1, workers_per_pool=2)
    await manager.start()
    try:
        lease = await manager.acquire()
        # Warm: the worker processes start on first use.
        await asyncio.gather(*(lease.run(_inc, i) for i in range(window)))
        jobs = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            await asyncio.gather(*(lease.run(_inc, i) for i in range(window)))
            jobs += window
        elapsed = time.perf_counter() - t0
        await lease.release()
    finally:
        await manager.stop()
    return jobs / elapsed, f"process backend, 1 pool x 2 workers, window={window}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["s1-nowait", "s1-wait", "s2", "s4", "s12"])
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--window", type=int, default=16)
    args = parser.parse_args()

    version = metadata.version("leasepool")
    if args.scenario in ("s1-nowait", "s1-wait"):
        value, detail = asyncio.run(s1(args.seconds, wait=args.scenario == "s1-wait"))
        unit = "ns/op"
    elif args.scenario == "s2":
        value, detail = asyncio.run(s2(args.seconds))
        unit = "jobs/s"
    elif args.scenario == "s12":
        value, detail = asyncio.run(s12(args.seconds, args.window))
        unit = "jobs/s"
    else:
        value, detail = asyncio.run(s4(args.seconds, args.window))
        unit = "jobs/s"
    print(f"RESULT\t{args.scenario}\t{value:.3f}\t{unit}\tleasepool={version} {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
