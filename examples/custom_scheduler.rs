//! Driving `leasepool-core` from a hand-written scheduler: plain std threads
//! and the real clock, no async runtime. Run it with
//! `cargo run -p leasepool-core --example custom_scheduler`.
//!
//! The core sits behind one `Mutex` rather than in a channel-fed event loop:
//! every input needs its answer at once (an acquire is granted or queued, a
//! job gets its pool), so callers of an event loop would block on a reply
//! anyway. Every input goes through `Shared::with_core`, which calls the
//! core, drains every action in order, checks the invariants, wakes the
//! timer if its deadline moved earlier, and only after unlocking starts the
//! slow effect, pool creation, one thread per pool.
//!
//! Threads: the timer (the scheduler: it sleeps until `poll_timeout()`), a
//! creator per creation (every 5th fails on purpose), `workers_per_pool`
//! workers per pool, and the clients. A broken invariant panics, and the
//! panic hook set in `main` exits with status 1 at once, on whatever thread:
//! a panicking thread alone would leave the others waiting for it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use leasepool_core::{
    Acquire, AcquireError, Acquired, Action, Config, Core, Grant, LeaseEnd, LeaseError, LeaseId, PoolId,
    Released, WaiterError, WaiterId,
};

/// Longest any thread waits for anything: past it, something hangs.
const HANG: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("never poisoned: a panic exits the process")
}

/// What a holder sees of its lease: set once, by `Action::LeaseEnded`.
#[derive(Default)]
struct EndSignal(Mutex<Option<LeaseEnd>>, Condvar);

impl EndSignal {
    fn get(&self) -> Option<LeaseEnd> {
        *lock(&self.0)
    }
    fn wait(&self, timeout: Duration) -> Option<LeaseEnd> {
        let waited = self.1.wait_timeout_while(lock(&self.0), timeout, |end| end.is_none());
        *waited.expect("never poisoned").0
    }
}

struct Lease {
    grant: Grant,
    end: Arc<EndSignal>,
}

enum JobDone {
    Ran,
    /// Its pool was shut down before it started.
    Cancelled,
}

struct Job {
    lease: LeaseId,
    work: Duration,
    reply: Sender<JobDone>,
}

/// A pool: a job queue (and a shut-down flag) shared by its worker threads.
#[derive(Default)]
struct PoolQueue(Mutex<(VecDeque<Job>, bool)>, Condvar);

impl PoolQueue {
    /// The next job; `None` once shut down (queued jobs were cancelled).
    fn next(&self) -> Option<Job> {
        let waited = self.1.wait_while(lock(&self.0), |(jobs, down)| jobs.is_empty() && !*down);
        let mut queue = waited.expect("never poisoned");
        if queue.1 { None } else { queue.0.pop_front() }
    }
    /// Refuses further jobs, wakes idle workers, returns the queued jobs.
    fn shut_down(&self) -> VecDeque<Job> {
        let mut queue = lock(&self.0);
        queue.1 = true;
        self.1.notify_all();
        std::mem::take(&mut queue.0)
    }
}

struct LivePool {
    queue: Arc<PoolQueue>,
    workers: Vec<JoinHandle<()>>,
}

struct State {
    core: Core,
    /// Live pools: in on `pool_created`, out on `ShutdownPool`.
    pools: HashMap<PoolId, LivePool>,
    /// Queued acquires, with the channel each client waits on.
    waiters: HashMap<WaiterId, Sender<Result<Lease, AcquireError>>>,
    /// Granted leases not yet ended: each must get exactly one `LeaseEnded`.
    leases: HashMap<LeaseId, Arc<EndSignal>>,
    /// Workers of shut-down pools, finishing their running job.
    retired: Vec<JoinHandle<()>>,
    /// The deadline the sleeping timer waits for (`None` while it is awake).
    timer_armed_for: Option<Instant>,
    tally: BTreeMap<&'static str, u32>,
}

impl State {
    fn bump(&mut self, what: &'static str) {
        *self.tally.entry(what).or_default() += 1;
    }
    fn register(&mut self, grant: Grant) -> Lease {
        let end = Arc::new(EndSignal::default());
        assert!(self.leases.insert(grant.lease, Arc::clone(&end)).is_none(), "lease granted twice");
        self.bump("leases granted");
        Lease { grant, end }
    }
}

struct Shared {
    state: Mutex<State>,
    timer: Condvar,
    /// The size signal. A real size provider may be slow: read it unlocked.
    units: AtomicU64,
    workers_per_pool: usize,
    creations: AtomicU64,
    creators: Mutex<Vec<JoinHandle<()>>>,
    workers_alive: AtomicUsize,
}

/// The answer to an acquire: a lease now, or a place in the queue.
enum Acquiring {
    Now(Lease),
    Queued(Waiting),
}

/// A queued acquire. Dropped unanswered (its client gave up, returned early
/// or panicked), it withdraws with `cancel_waiter`.
struct Waiting {
    shared: Arc<Shared>,
    waiter: WaiterId,
    rx: Receiver<Result<Lease, AcquireError>>,
    answered: bool,
}

impl Waiting {
    /// The core's answer, or `None` (withdrawn) after `give_up_after`.
    fn answer(mut self, give_up_after: Option<Duration>) -> Option<Lease> {
        match self.rx.recv_timeout(give_up_after.unwrap_or(HANG)) {
            Ok(answer) => {
                self.answered = true;
                answer.map_err(|e| self.shared.bump(error_label(&e))).ok()
            }
            Err(RecvTimeoutError::Timeout) if give_up_after.is_some() => None, // `drop` withdraws
            Err(e) => panic!("waiter {} hangs or lost its answer: {e}", self.waiter),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let (waiter, rx) = (self.waiter, &self.rx);
        self.shared.with_core(|s, now| match s.core.cancel_waiter(now, waiter) {
            Ok(()) => {
                s.waiters.remove(&waiter).expect("a queued waiter is in the map");
                s.bump("waiters withdrawn");
            }
            // Its answer was drained and sent just before we took the lock.
            Err(WaiterError::Ended) => match rx.try_recv() {
                Ok(Ok(lease)) => {
                    s.bump("late grants given back");
                    // Ended is expected if it expired meanwhile: nothing to give back.
                    let given_back = s.core.release(now, lease.grant.lease);
                    assert!(matches!(given_back, Ok(_) | Err(LeaseError::Ended)), "{given_back:?}");
                }
                Ok(Err(e)) => s.bump(error_label(&e)),
                Err(e) => panic!("waiter {waiter} ended without an answer: {e}"),
            },
        });
    }
}

impl Shared {
    /// The one way into the core: input, drain, check, re-arm, then create.
    fn with_core<R>(self: &Arc<Self>, input: impl FnOnce(&mut State, Instant) -> R) -> R {
        let mut s = lock(&self.state);
        let now = Instant::now();
        let out = input(&mut s, now);
        let to_create = drain(&mut s, now);
        check_invariants(&s, now);
        // Wake the timer only if its deadline moved earlier, or to let it
        // exit once stopped (`None`).
        if s.timer_armed_for.is_some_and(|armed| s.core.poll_timeout().is_none_or(|at| at < armed)) {
            self.timer.notify_one();
        }
        drop(s);
        for pool in to_create {
            let shared = Arc::clone(self);
            match thread::Builder::new().name(format!("create-{pool}")).spawn(move || shared.create(pool)) {
                Ok(creator) => lock(&self.creators).push(creator),
                Err(e) => self.report_creation(pool, Err(e)), // no thread: a failed creation too
            }
        }
        out
    }

    fn bump(self: &Arc<Self>, what: &'static str) {
        lock(&self.state).bump(what);
    }

    /// On its own thread, never under the lock: creating a pool is slow.
    fn create(self: Arc<Self>, pool: PoolId) {
        thread::sleep(Duration::from_millis(10));
        let created = if self.creations.fetch_add(1, SeqCst) % 5 == 4 {
            Err(io::Error::other("simulated failure (every 5th creation)"))
        } else {
            self.start_workers(pool)
        };
        self.report_creation(pool, created);
    }

    fn start_workers(self: &Arc<Self>, pool: PoolId) -> io::Result<LivePool> {
        let mut live = LivePool { queue: Arc::default(), workers: Vec::new() };
        for i in 0..self.workers_per_pool {
            let (shared, queue) = (Arc::clone(self), Arc::clone(&live.queue));
            self.workers_alive.fetch_add(1, SeqCst);
            match thread::Builder::new().name(format!("{pool}-w{i}")).spawn(move || shared.work(&queue)) {
                Ok(worker) => live.workers.push(worker),
                Err(e) => {
                    self.workers_alive.fetch_sub(1, SeqCst);
                    let _never_handed_out = live.queue.shut_down(); // so: no job to cancel
                    join_all(live.workers);
                    return Err(e);
                }
            }
        }
        Ok(live)
    }

    fn report_creation(self: &Arc<Self>, pool: PoolId, created: io::Result<LivePool>) {
        self.with_core(|s, now| match created {
            // Into the map before confirming: if the core disowns the pool
            // (created after a stop), its ShutdownPool finds it there.
            Ok(live) => {
                assert!(s.pools.insert(pool, live).is_none(), "pool {pool} created twice");
                s.bump("pools created");
                s.core.pool_created(now, pool);
            }
            Err(e) => {
                println!("  creating {pool} failed: {e}");
                s.bump("pool creations failed");
                s.core.pool_create_failed(now, pool);
            }
        })
    }

    fn work(self: Arc<Self>, queue: &PoolQueue) {
        while let Some(job) = queue.next() {
            thread::sleep(job.work);
            // Report, then reply: the submitter then sees a settled lease.
            // Ended is expected: the lease was revoked (or the manager
            // stopped) while the job ran, and running jobs may finish.
            let finished = self.with_core(|s, now| s.core.job_finished(now, job.lease));
            assert!(matches!(finished, Ok(()) | Err(LeaseError::Ended)), "{finished:?}");
            if job.reply.send(JobDone::Ran).is_err() {
                self.bump("job replies lost (submitter gone)");
            }
        }
        self.workers_alive.fetch_sub(1, SeqCst);
    }

    /// The timer thread: sleeps until `poll_timeout()`, handles it, and runs
    /// a due check with units read outside the lock.
    fn run_timer(self: Arc<Self>) {
        loop {
            let mut s = lock(&self.state);
            loop {
                let Some(at) = s.core.poll_timeout() else { return }; // stopped: nothing scheduled
                let wait = at.saturating_duration_since(Instant::now());
                if wait.is_zero() {
                    break;
                }
                s.timer_armed_for = Some(at);
                s = self.timer.wait_timeout(s, wait).expect("never poisoned").0;
                s.timer_armed_for = None;
            }
            drop(s);
            let due = self.with_core(|s, now| {
                s.core.handle_timeout(now);
                s.core.check_due(now)
            });
            if let Some(due) = due {
                let units = self.units.load(SeqCst);
                self.with_core(|s, now| s.core.handle_units(now, due, units));
                self.bump("checks run");
            }
        }
    }

    fn acquire(self: &Arc<Self>, request: Acquire) -> Result<Acquiring, AcquireError> {
        let acquired = self.with_core(|s, now| {
            Ok(match s.core.acquire(now, request)? {
                Acquired::Granted(grant) => Err(s.register(grant)),
                Acquired::Queued(waiter) => {
                    let (tx, rx) = mpsc::channel();
                    assert!(s.waiters.insert(waiter, tx).is_none(), "waiter {waiter} queued twice");
                    Ok((waiter, rx))
                }
            })
        });
        Ok(match acquired.inspect_err(|e| self.bump(error_label(e)))? {
            Err(lease) => Acquiring::Now(lease),
            Ok((waiter, rx)) => {
                Acquiring::Queued(Waiting { shared: Arc::clone(self), waiter, rx, answered: false })
            }
        })
    }

    /// Acquires and waits for the answer; `None` on a typed error or a withdrawal.
    fn lease(self: &Arc<Self>, request: Acquire, give_up_after: Option<Duration>) -> Option<Lease> {
        match self.acquire(request).ok()? {
            Acquiring::Now(lease) => Some(lease),
            Acquiring::Queued(waiting) => waiting.answer(give_up_after),
        }
    }

    fn submit(self: &Arc<Self>, lease: &Lease, work: Duration) -> Result<Receiver<JobDone>, String> {
        // Told by LeaseEnded already: no need to ask the core.
        if let Some(end) = lease.end.get() {
            return Err(format!("lease ended: {end:?}"));
        }
        self.with_core(|s, now| {
            let pool = s.core.job_submitted(now, lease.grant.lease).map_err(|e| e.to_string())?;
            // A live lease's pool is in the map and not shut down, or the driver has a bug.
            let live = s.pools.get(&pool).unwrap_or_else(|| panic!("pool {pool} of a live lease is missing"));
            let (reply, rx) = mpsc::channel();
            let mut queue = lock(&live.queue.0);
            assert!(!queue.1, "pool {pool} of a live lease is shut down");
            queue.0.push_back(Job { lease: lease.grant.lease, work, reply });
            live.queue.1.notify_one();
            Ok(rx)
        })
    }

    /// Polls `cond` until it holds, for at most `HANG`.
    fn wait_for(&self, what: &str, cond: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + HANG;
        while !cond(&lock(&self.state)) {
            let late = Instant::now() >= deadline;
            assert!(
                !late,
                "timed out waiting for {what}: {:?}",
                lock(&self.state).core.stats(Instant::now())
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The drain rule: perform every action in order until none is left.
/// Returns the pools to create once the lock is released.
fn drain(s: &mut State, now: Instant) -> Vec<PoolId> {
    let mut to_create = Vec::new();
    while let Some(action) = s.core.poll_action() {
        match action {
            Action::CreatePool(pool) => to_create.push(pool),
            Action::ShutdownPool { pool, .. } => {
                let live = s.pools.remove(&pool).unwrap_or_else(|| panic!("shutdown of unknown pool {pool}"));
                s.bump("pools shut down");
                for job in live.queue.shut_down() {
                    s.bump("jobs cancelled by a shutdown");
                    if job.reply.send(JobDone::Cancelled).is_err() {
                        s.bump("job replies lost (submitter gone)");
                    }
                    // A cancelled job is finished. Ended is expected: a
                    // leased pool is shut down only after its LeaseEnded.
                    let finished = s.core.job_finished(now, job.lease);
                    assert!(matches!(finished, Ok(()) | Err(LeaseError::Ended)), "{finished:?}");
                }
                s.retired.extend(live.workers);
            }
            Action::Grant { waiter, grant } => {
                let lease = s.register(grant);
                let tx = s.waiters.remove(&waiter).unwrap_or_else(|| panic!("grant to unknown {waiter}"));
                // The client is gone without withdrawing: give the lease back.
                if tx.send(Ok(lease)).is_err() {
                    s.bump("grants to gone clients given back");
                    let given_back = s.core.release(now, grant.lease);
                    assert_eq!(given_back, Ok(Released::Ended), "a fresh grant has no jobs");
                }
            }
            Action::FailWaiter { waiter, error } => {
                let tx = s.waiters.remove(&waiter).unwrap_or_else(|| panic!("failure of unknown {waiter}"));
                if tx.send(Err(error)).is_err() {
                    s.bump("failures of gone clients");
                }
            }
            Action::LeaseEnded { lease, end, .. } => {
                let signal =
                    s.leases.remove(&lease).unwrap_or_else(|| panic!("second LeaseEnded for {lease}"));
                *lock(&signal.0) = Some(end);
                signal.1.notify_all();
                s.bump(match end {
                    LeaseEnd::Released(_) => "leases ended: released",
                    LeaseEnd::Expired => "leases ended: revoked (expired)",
                    LeaseEnd::PoolBroken => "leases ended: pool broken",
                    LeaseEnd::Stopped => "leases ended: stopped",
                });
            }
        }
    }
    to_create
}

fn check_invariants(s: &State, now: Instant) {
    let core = &s.core;
    assert!(core.total_count() <= core.config().max_pools(), "more pools counted than max_pools");
    let counted = core.available_count() + core.leased_count();
    assert_eq!(s.pools.len(), counted, "driver's live pools vs the core's available + leased");
    for l in core.stats(now).leases {
        assert!(
            s.pools.contains_key(&l.pool),
            "lease {} is on pool {}, not held by the driver",
            l.id,
            l.pool
        );
    }
    assert_eq!(s.leases.len(), core.leased_count(), "live leases: driver vs core");
    assert_eq!(s.waiters.len(), core.waiting_count(), "queued waiters: driver vs core");
}

/// Exhaustive on purpose, as `AcquireError` is: a new cause must be named.
fn error_label(e: &AcquireError) -> &'static str {
    match e {
        AcquireError::NotStarted => "acquires failed: not started",
        AcquireError::Stopped => "acquires failed: stopped",
        AcquireError::Unavailable => "acquires failed: unavailable",
        AcquireError::Timeout => "acquires failed: timeout",
        AcquireError::PoolCreationFailed { .. } => "acquires failed: pool creation failed",
        AcquireError::PoolBroken { .. } => "acquires failed: pool broken",
        AcquireError::InvalidLease(_) => "acquires failed: invalid lease",
    }
}

/// Joins threads, waiting at most `HANG` for them all to finish.
fn join_all<T>(threads: Vec<JoinHandle<T>>) -> Vec<T> {
    let deadline = Instant::now() + HANG;
    while threads.iter().any(|t| !t.is_finished()) {
        assert!(Instant::now() < deadline, "a thread still runs after {HANG:?}");
        thread::sleep(Duration::from_millis(5));
    }
    threads.into_iter().map(|t| t.join().expect("a panic exits the process first")).collect()
}

fn wait_until(ms: u64) -> Acquire {
    Acquire::wait_until(Instant::now() + Duration::from_millis(ms))
}

/// Waits for the answers to submitted jobs and counts how they went.
fn count_jobs(shared: &Arc<Shared>, replies: Vec<Result<Receiver<JobDone>, String>>) {
    for reply in replies {
        match reply.expect("a fresh lease takes jobs").recv_timeout(HANG).expect("a job answers") {
            JobDone::Ran => shared.bump("jobs ran"),
            JobDone::Cancelled => shared.bump("jobs cancelled, as their submitters saw"),
        }
    }
}

/// Four rounds of: acquire, run two short jobs, release.
fn worker(shared: Arc<Shared>, owner: String) {
    for _ in 0..4 {
        let Some(lease) = shared.lease(wait_until(1000).owner(owner.as_str()), None) else { continue };
        count_jobs(&shared, (0..2).map(|_| shared.submit(&lease, Duration::from_millis(15))).collect());
        // Jobs report job_finished before replying, so none is in flight.
        let released = shared.with_core(|s, now| s.core.release(now, lease.grant.lease));
        assert_eq!(released, Ok(Released::Ended), "{owner}: release of an idle live lease");
    }
}

/// Holds a 150 ms lease (+100 ms grace) with three 600 ms jobs on two
/// workers: revoked at hard expiry, the queued job cancelled, the two
/// running ones let finish.
fn hog(shared: Arc<Shared>, owner: String) {
    let request = wait_until(2000).owner(owner.as_str()).lease_for(Duration::from_millis(150));
    let Some(lease) = shared.lease(request, None) else { return };
    let replies = (0..3).map(|_| shared.submit(&lease, Duration::from_millis(600))).collect();
    let hard = lease.grant.hard_expires_at().saturating_duration_since(Instant::now());
    let end = lease.end.wait(hard + HANG);
    assert_eq!(end, Some(LeaseEnd::Expired), "{owner}: the lease should have been revoked");
    shared.bump("revocations seen by holders");
    assert!(shared.submit(&lease, Duration::ZERO).is_err(), "{owner}: a revoked lease took a job");
    // The core agrees: a revoked lease has ended, there is nothing to release.
    let released = shared.with_core(|s, now| s.core.release(now, lease.grant.lease));
    assert_eq!(released, Err(LeaseError::Ended), "{owner}: release of a revoked lease");
    count_jobs(&shared, replies);
}

/// Gives up after 20 ms in the queue (dropping `Waiting` withdraws), or,
/// served, releases at once. Its vanishing twin walks away while queued and
/// is busy elsewhere for 250 ms before its `Waiting` is dropped: that
/// withdraws, or gives back a grant that came meanwhile.
fn quitter(shared: Arc<Shared>, vanish: bool) {
    let lease = match shared.acquire(wait_until(2000)) {
        Ok(Acquiring::Queued(waiting)) if vanish => {
            thread::sleep(Duration::from_millis(250));
            return drop(waiting);
        }
        Ok(Acquiring::Queued(waiting)) => waiting.answer(Some(Duration::from_millis(20))),
        Ok(Acquiring::Now(lease)) => Some(lease),
        Err(_) => None, // counted by `acquire`
    };
    if let Some(lease) = lease {
        let released = shared.with_core(|s, now| s.core.release(now, lease.grant.lease));
        assert_eq!(released, Ok(Released::Ended), "release of an idle live lease");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        eprintln!("custom_scheduler: a check failed, exiting");
        std::process::exit(1);
    }));
    let started = Instant::now();
    let config = Config::builder()
        .max_pools(4)
        .workers_per_pool(2)
        .check_interval(Duration::from_millis(300))
        .default_lease_for(Duration::from_secs(2))
        .lease_grace(Duration::from_millis(100))
        // Pools freed above the desired count stay idle this long (the
        // default is 60 s): phase 1's surplus ages out before phase 2.
        .idle_timeout(Duration::from_millis(200))
        .build()?;
    let shared = Arc::new(Shared {
        workers_per_pool: config.workers_per_pool(),
        state: Mutex::new(State {
            core: Core::new(config),
            pools: HashMap::new(),
            waiters: HashMap::new(),
            leases: HashMap::new(),
            retired: Vec::new(),
            timer_armed_for: None,
            tally: BTreeMap::new(),
        }),
        timer: Condvar::new(),
        units: AtomicU64::new(0),
        creations: AtomicU64::new(0),
        creators: Mutex::new(Vec::new()),
        workers_alive: AtomicUsize::new(0),
    });
    shared.with_core(|s, now| s.core.start(now, shared.units.load(SeqCst)))?;
    let spawn = |name: String, run: Box<dyn FnOnce(Arc<Shared>, String) + Send>| {
        let shared = Arc::clone(&shared);
        thread::Builder::new().name(name.clone()).spawn(move || run(shared, name))
    };
    let timer = spawn("timer".into(), Box::new(|shared, _| shared.run_timer()))?;
    shared.wait_for("the first pool", |s| s.core.available_count() == 1);

    // Phase 1: two hogs overrun their leases, four workers share the other
    // pools, and two quitters and two vanishers queue while all are busy.
    let mut clients = vec![spawn("hog-0".into(), Box::new(hog))?, spawn("hog-1".into(), Box::new(hog))?];
    shared.wait_for("the hogs' leases", |s| s.core.leased_count() == 2);
    for i in 0..4 {
        clients.push(spawn(format!("worker-{i}"), Box::new(worker))?);
    }
    thread::sleep(Duration::from_millis(10));
    for (i, vanish) in [false, false, true, true].into_iter().enumerate() {
        clients.push(spawn(format!("quitter-{i}"), Box::new(move |shared, _| quitter(shared, vanish)))?);
    }
    join_all(clients);
    shared.wait_for("the queue to empty", |s| s.core.waiting_count() + s.core.leased_count() == 0);

    // The pools phase 1's demand added above the desired count (1) time
    // out once idle for `idle_timeout`.
    shared.wait_for("the surplus to time out", |s| s.core.total_count() == 1);

    // Phase 2: the size signal grows to 35 units (4 pools), then drops to 5 (1).
    for (units, pools) in [(35, 4), (5, 1)] {
        shared.units.store(units, SeqCst);
        shared.with_core(|s, now| s.core.notify_scale_changed(now));
        shared.wait_for("the pools to follow the signal", |s| {
            (s.core.available_count(), s.core.total_count()) == (pools, pools)
        });
    }

    // Stop, then join everything: timer, creators, every pool's workers.
    shared.with_core(|s, now| s.core.stop(now))?;
    join_all(vec![timer]);
    let creators = std::mem::take(&mut *lock(&shared.creators));
    join_all(creators);
    let retired = std::mem::take(&mut lock(&shared.state).retired);
    let workers = join_all(retired).len();
    let s = lock(&shared.state);
    assert_eq!(shared.workers_alive.load(SeqCst), 0, "worker threads left after stop");
    assert!(s.pools.is_empty() && s.waiters.is_empty() && s.core.total_count() == 0, "left after stop");
    let ended: u32 = s.tally.iter().filter(|(k, _)| k.starts_with("leases ended")).map(|(_, n)| n).sum();
    assert!(s.leases.is_empty() && s.tally.get("leases granted") == Some(&ended), "a lease never ended");
    let tally = |what| s.tally.get(what).copied().unwrap_or(0);
    assert_eq!(tally("jobs cancelled by a shutdown"), tally("jobs cancelled, as their submitters saw"));
    for exercised in ["revocations seen by holders", "pool creations failed", "waiters withdrawn"] {
        assert!(tally(exercised) > 0, "the scenario did not exercise: {exercised}");
    }
    println!("custom_scheduler: done in {:?}, {workers} worker threads joined", started.elapsed());
    for (what, n) in &s.tally {
        println!("  {what}: {n}");
    }
    Ok(())
}
