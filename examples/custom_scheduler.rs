//! Driving `leasepool-core` from a hand-written scheduler: plain std threads,
//! a `Mutex` + `Condvar`, and the real clock. No async runtime anywhere.
//!
//! Run with `cargo run --example custom_scheduler`.
//!
//! The shape is the one the core's docs describe: every call into the core
//! is followed by draining its actions; a timer thread sleeps until
//! `poll_timeout()` and then calls `handle_timeout()`.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use leasepool_core::{Acquire, AcquireError, Acquired, Action, Config, Core, Grant, PoolId, WaiterId};

type Job = Box<dyn FnOnce() + Send>;

struct State {
    core: Core,
    /// One worker thread per pool, fed through a channel.
    pools: HashMap<PoolId, mpsc::Sender<Job>>,
    /// Outcomes of queued acquires, picked up by the waiting threads.
    outcomes: HashMap<WaiterId, Result<Grant, AcquireError>>,
    units: u64,
}

struct Scheduler {
    state: Mutex<State>,
    changed: Condvar,
}

impl Scheduler {
    /// The drain rule: perform every action in order, then wake everyone
    /// (waiting acquirers and the timer thread, whose deadline may have moved).
    fn drain(&self, state: &mut State) {
        while let Some(action) = state.core.poll_action() {
            match action {
                Action::CreatePool(id) => {
                    let (tx, rx) = mpsc::channel::<Job>();
                    thread::Builder::new()
                        .name(format!("custom-{id}-0"))
                        .spawn(move || rx.into_iter().for_each(|job| job()))
                        .expect("spawn pool worker");
                    state.pools.insert(id, tx);
                }
                // Dropping the sender ends the worker once its queue is empty.
                Action::ShutdownPool { pool, reason } => {
                    println!("  pool {pool} shut down: {reason}");
                    state.pools.remove(&pool);
                }
                Action::Grant { waiter, grant } => {
                    state.outcomes.insert(waiter, Ok(grant));
                }
                Action::FailWaiter { waiter, error } => {
                    state.outcomes.insert(waiter, Err(error));
                }
            }
        }
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("scheduler lock")
    }

    /// Blocking acquire with a timeout.
    fn acquire(&self, owner: &str, timeout: Duration) -> Result<Grant, AcquireError> {
        let mut state = self.lock();
        let now = Instant::now();
        let request = Acquire::wait_until(now + timeout).owner(owner);
        let acquired = state.core.acquire(now, request);
        self.drain(&mut state);
        match acquired? {
            Acquired::Granted(grant) => Ok(grant),
            Acquired::Queued(waiter) => loop {
                if let Some(outcome) = state.outcomes.remove(&waiter) {
                    return outcome;
                }
                state = self.changed.wait(state).expect("scheduler lock");
            },
        }
    }

    /// Runs `job` on the lease's pool and reports it finished afterwards.
    fn submit(self: &Arc<Self>, grant: &Grant, job: impl FnOnce() + Send + 'static) -> bool {
        let mut state = self.lock();
        let Ok(pool) = state.core.job_submitted(grant.lease, Instant::now()) else {
            self.drain(&mut state);
            return false;
        };
        let (this, lease) = (Arc::clone(self), grant.lease);
        let wrapped: Job = Box::new(move || {
            job();
            let mut state = this.lock();
            state.core.job_finished(lease, Instant::now());
            this.drain(&mut state);
        });
        state.pools[&pool].send(wrapped).is_ok()
    }

    fn release(&self, grant: &Grant) {
        let mut state = self.lock();
        state.core.release(grant.lease, Instant::now());
        self.drain(&mut state);
    }

    /// The timer rule: sleep until `poll_timeout()`, then `handle_timeout()`.
    fn run_timer(&self) {
        let mut state = self.lock();
        while let Some(deadline) = state.core.poll_timeout() {
            let now = Instant::now();
            if now >= deadline {
                let units = state.units;
                state.core.handle_timeout(now, || units);
                self.drain(&mut state);
            } else {
                state = self.changed.wait_timeout(state, deadline - now).expect("scheduler lock").0;
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::builder()
        .max_pools(3)
        .workers_per_pool(1)
        .check_interval(Duration::from_secs(60))
        .default_lease_for(Duration::from_secs(5))
        .build()?;
    let scheduler = Arc::new(Scheduler {
        state: Mutex::new(State {
            core: Core::new(config),
            pools: HashMap::new(),
            outcomes: HashMap::new(),
            units: 0,
        }),
        changed: Condvar::new(),
    });
    {
        let mut state = scheduler.lock();
        state.core.start(Instant::now(), 0);
        scheduler.drain(&mut state);
    }
    let timer = thread::spawn({
        let s = Arc::clone(&scheduler);
        move || s.run_timer()
    });

    // Six client threads compete for three pools.
    let (done_tx, done_rx) = mpsc::channel();
    let clients: Vec<_> = (0..6)
        .map(|i| {
            let (s, done_tx) = (Arc::clone(&scheduler), done_tx.clone());
            thread::spawn(move || {
                for round in 0..3 {
                    let grant = s.acquire(&format!("client-{i}"), Duration::from_secs(10)).expect("acquire");
                    for job in 0..2 {
                        let done_tx = done_tx.clone();
                        assert!(s.submit(&grant, move || {
                            thread::sleep(Duration::from_millis(2));
                            done_tx.send((i, round, job)).expect("report");
                        }));
                    }
                    s.release(&grant); // drains: the pool returns when both jobs end
                }
            })
        })
        .collect();
    drop(done_tx);
    for client in clients {
        client.join().expect("client thread");
    }
    let jobs = done_rx.iter().count();
    println!("jobs run: {jobs}");
    assert_eq!(jobs, 36, "6 clients x 3 rounds x 2 jobs");

    {
        let state = scheduler.lock();
        println!(
            "after the clients: total={} leased={}",
            state.core.total_count(),
            state.core.leased_count()
        );
    }

    // The signal changes: 25 units at 10 per pool wants 3 pools.
    {
        let mut state = scheduler.lock();
        state.units = 25;
        state.core.notify_scale_changed(Instant::now());
        scheduler.drain(&mut state);
        let (_state, waited) = scheduler
            .changed
            .wait_timeout_while(state, Duration::from_secs(5), |s| s.core.total_count() != 3)
            .expect("scheduler lock");
        assert!(!waited.timed_out(), "the timer thread did not scale to 3 pools within 5 s");
    }
    {
        let state = scheduler.lock();
        println!(
            "after scaling to 25 units: desired={} total={}",
            state.core.desired_count(),
            state.core.total_count()
        );
        assert_eq!(state.core.desired_count(), 3, "ceil(25 / 10) = 3");
        assert_eq!(state.core.total_count(), 3);
        assert_eq!(state.pools.len(), 3, "one worker thread per pool");
    }

    {
        let mut state = scheduler.lock();
        state.core.stop(Instant::now());
        scheduler.drain(&mut state);
    }
    timer.join().expect("timer thread");
    let state = scheduler.lock();
    println!("stopped: total={} pools left={}", state.core.total_count(), state.pools.len());
    assert_eq!(state.core.total_count(), 0, "stop shuts every pool down");
    assert!(state.pools.is_empty(), "every ShutdownPool action was performed");
    assert!(state.outcomes.is_empty(), "every queued acquire picked up its outcome");
    Ok(())
}
