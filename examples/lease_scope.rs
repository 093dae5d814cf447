//! Lease scope: a lease is an RAII guard, and `run` takes `'static` closures.
//!
//! What it teaches:
//! * a lease dropped at the end of a scope (or by an early `?` return) is
//!   released: its pool goes back to the manager, no `release()` call needed;
//! * `lease.run(f)` sends `f` to another thread, so `f` must own what it
//!   uses: move owned values in, clone an `Arc` for shared data, and get
//!   results back as the closure's return value.
//!
//! Run it with `cargo run --example lease_scope`, or on another runtime:
//! `cargo run -p leasepool --no-default-features --features runtime-smol --example lease_scope`.

use std::collections::HashMap;
use std::sync::Arc;

// The runtime this example runs on: tokio by default, or the one chosen with
// `--no-default-features --features runtime-smol` (or `runtime-async-std`).
// A program names its own: `leasepool::tokio` (also the crate root),
// `leasepool::smol` or `leasepool::async_std`.
#[cfg(not(any(feature = "runtime-tokio", feature = "runtime-smol", feature = "runtime-threads")))]
use leasepool::async_std as rt;
#[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
use leasepool::smol as rt;
#[cfg(all(feature = "runtime-threads", not(any(feature = "runtime-tokio", feature = "runtime-smol"))))]
use leasepool::threads as rt;
#[cfg(feature = "runtime-tokio")]
use leasepool::tokio as rt;
use rt::LeasedExecutorManager;

/// Leases a pool for one parse. The lease lives in this function only: it
/// is released when the function returns, on success and on error alike.
async fn parse_all(
    manager: &LeasedExecutorManager,
    lines: Vec<String>,
) -> Result<Vec<i64>, Box<dyn std::error::Error>> {
    let lease = manager.acquire().owner("parser").await?;
    println!("  parse_all holds lease {} (leased={})", lease.id(), manager.leased_count());
    assert_eq!(manager.leased_count(), 1, "parse_all's lease is the only one");
    // `lines` is moved into the closure; the parsed numbers come back out.
    // The first `?` is leasepool's error, the second the parse error: either
    // returns early, and the lease is dropped (released) on the way out.
    let numbers = lease
        .run(move || lines.iter().map(|l| l.trim().parse::<i64>()).collect::<Result<Vec<_>, _>>())
        .await??;
    Ok(numbers)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    rt::block_on(async {
        let manager = LeasedExecutorManager::builder().max_pools(2).workers_per_pool(2).build()?;
        manager.start().await?;
        println!("start: available={} leased={}", manager.available_count(), manager.leased_count());
        assert_eq!((manager.available_count(), manager.leased_count()), (1, 0), "one idle pool at start");

        // 1. A scope: the lease is dropped at the closing brace.
        {
            let lease = manager.acquire().owner("scoped").await?;
            println!(
                "in scope: lease {} on pool {}, leased={}",
                lease.id(),
                lease.pool_id(),
                manager.leased_count()
            );
            assert_eq!(manager.leased_count(), 1, "the scoped lease is held");

            // Move an owned value in; get a value back.
            let words: Vec<String> = ["lease", "scope", "raii"].map(String::from).into();
            let total_len = lease.run(move || words.iter().map(String::len).sum::<usize>()).await?;
            println!("  moved a Vec<String> in, got back total length {total_len}");
            assert_eq!(total_len, 14, "5 + 5 + 4");

            // Shared, read-only data: clone the Arc, keep using the original.
            let prices = Arc::new(HashMap::from([("apple", 3), ("pear", 5)]));
            let for_job = Arc::clone(&prices);
            let basket = lease.run(move || for_job["apple"] * 2 + for_job["pear"]).await?;
            println!(
                "  shared an Arc<HashMap> ({} entries still usable here), basket costs {basket}",
                prices.len()
            );
            assert_eq!(basket, 11, "2 apples at 3 + 1 pear at 5");

            // Borrowing a local would not compile: the closure must be 'static.
            // let name = String::from("x"); lease.run(|| name.len()); // error[E0373]
        } // <- the lease is dropped here, which releases it
        println!("after scope: available={} leased={}", manager.available_count(), manager.leased_count());
        assert_eq!((manager.available_count(), manager.leased_count()), (1, 0), "dropped = released");

        // 2. A function that owns its lease: released when it returns.
        let numbers = parse_all(&manager, vec!["1".into(), " 2".into(), "39 ".into()]).await?;
        println!("parsed {numbers:?}; leased={}", manager.leased_count());
        assert_eq!(numbers, [1, 2, 39]);
        assert_eq!(manager.leased_count(), 0, "released when parse_all returned");
        match parse_all(&manager, vec!["1".into(), "two".into()]).await {
            Ok(numbers) => panic!("\"two\" should not parse, got {numbers:?}"),
            Err(e) => {
                println!("parse failed ({e}); leased={}", manager.leased_count());
                assert_eq!(manager.leased_count(), 0, "released on the early `?` return too");
            }
        }

        // 3. `drop(lease)` releases early, before the end of the scope.
        let lease = manager.acquire().await?;
        let id = lease.id();
        drop(lease);
        println!("dropped lease {id} explicitly: leased={}", manager.leased_count());
        assert_eq!(manager.leased_count(), 0, "drop(lease) released it");

        manager.stop().await;
        Ok(())
    })
}
