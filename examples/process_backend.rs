//! The process backend: CPU-heavy jobs in worker processes, and a revoked
//! lease whose endless job is really stopped.
//!
//! What it teaches:
//! * a job for a process pool is a type implementing `ProcessJob` (a name,
//!   a serde input and output, a function), registered in the worker with
//!   `process::init` at the top of `main`: the worker processes are this
//!   program, re-executed, and never get past that line;
//! * `build_process` gives a `ProcessManager`, whose `ProcessLease`s run
//!   such jobs (`run::<Job>(input)`); a closure cannot be sent;
//! * at hard expiry the pool's worker processes are killed (SIGTERM, then
//!   SIGKILL after `kill_grace`) and reaped: the endless job's caller gets
//!   `Error::LeaseExpired`, and a replacement pool serves the next lease;
//! * a worker that crashes fails its job with `Error::WorkerCrashed`
//!   (signal or exit code inside) and its pool is replaced.
//!
//! Run it with `cargo run -p leasepool --features process --example process_backend`
//! (Unix only), or on another runtime with
//! `--no-default-features --features runtime-smol,process`.

use std::time::{Duration, Instant};

use leasepool::Error;
use leasepool::process::{self, Jobs, ProcessConfig, ProcessJob};

#[cfg(not(any(feature = "runtime-tokio", feature = "runtime-smol", feature = "runtime-threads")))]
use leasepool::async_std as rt;
#[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
use leasepool::smol as rt;
#[cfg(all(feature = "runtime-threads", not(any(feature = "runtime-tokio", feature = "runtime-smol"))))]
use leasepool::threads as rt;
#[cfg(feature = "runtime-tokio")]
use leasepool::tokio as rt;
use rt::LeasedExecutorManager;

/// Counts the primes below `limit`: CPU-bound, no shared state.
struct CountPrimes;
impl ProcessJob for CountPrimes {
    const NAME: &'static str = "count-primes";
    type Input = u64;
    type Output = (u64, u32);
    fn run(limit: u64) -> (u64, u32) {
        let count = (2..limit).filter(|n| (2..).take_while(|d| d * d <= *n).all(|d| n % d != 0)).count();
        (count as u64, std::process::id())
    }
}

/// Never returns: what a runaway computation looks like.
struct Runaway;
impl ProcessJob for Runaway {
    const NAME: &'static str = "runaway";
    type Input = ();
    type Output = ();
    fn run((): ()) {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }
}

/// Exits its worker process, as a job calling `exit` in a library would.
struct Quit;
impl ProcessJob for Quit {
    const NAME: &'static str = "quit";
    type Input = i32;
    type Output = ();
    fn run(code: i32) {
        std::process::exit(code);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In a worker process this serves jobs and never returns.
    process::init(Jobs::new().register::<CountPrimes>().register::<Runaway>().register::<Quit>());

    rt::block_on(async {
        let manager = LeasedExecutorManager::builder()
            .max_pools(2)
            .workers_per_pool(2)
            .lease_grace(Duration::from_millis(100))
            .build_process(ProcessConfig::new().kill_grace(Duration::from_millis(200)))?;
        manager.start().await?;
        println!("parent pid {}", std::process::id());

        // CPU-heavy jobs, two at a time on the pool's two worker processes.
        let lease = manager.acquire().owner("primes").await?;
        let t0 = Instant::now();
        let handles: Vec<_> =
            [200_000u64, 210_000, 220_000, 230_000].iter().map(|&n| lease.submit::<CountPrimes>(n)).collect();
        for (n, handle) in [200_000u64, 210_000, 220_000, 230_000].iter().zip(handles) {
            let (count, pid) = handle?.await?;
            println!("{count} primes below {n} (worker process {pid})");
        }
        println!("4 jobs in {:?}", t0.elapsed());
        drop(lease);

        // A runaway job on a 300 ms lease: revoked at hard expiry, killed.
        let lease = manager.acquire().owner("runaway").lease_for(Duration::from_millis(300)).await?;
        let hard = lease.hard_expires_at();
        match lease.run::<Runaway>(()).await {
            Err(Error::LeaseExpired) => {
                println!(
                    "runaway job: LeaseExpired; its worker was killed {:?} after the hard expiry",
                    hard.elapsed()
                )
            }
            other => return Err(format!("expected LeaseExpired, got {other:?}").into()),
        }
        drop(lease);

        // A job that exits its worker: a typed error, and a new pool.
        let lease = manager.acquire().owner("quitter").await?;
        match lease.run::<Quit>(3).await {
            Err(err @ Error::WorkerCrashed { .. }) => println!("quit job: {err}"),
            other => return Err(format!("expected WorkerCrashed, got {other:?}").into()),
        }
        drop(lease);

        let lease = manager.acquire().owner("after").await?;
        let (count, pid) = lease.run::<CountPrimes>(1_000).await?;
        println!("a replacement pool serves: {count} primes below 1000 (worker process {pid})");
        drop(lease);
        manager.stop().await;
        Ok(())
    })
}
