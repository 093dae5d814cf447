//! One timer thread for the whole process: a min-heap of deadlines and a
//! map of the wakers still waiting on them.
//!
//! A sleep registers its deadline and waker on its first pending poll and
//! updates the waker on later ones; the timer thread waits on a condition
//! variable until the earliest deadline (or a new, earlier one), then wakes
//! every sleep that is due. A dropped sleep removes its waker; its heap
//! entry is skipped when it comes due, and the heap is compacted when such
//! entries outnumber the live ones, so cancelled sleeps cannot pile up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

#[derive(Default)]
struct Timers {
    /// `(deadline, id)` of every registered sleep, earliest first; may hold
    /// ids already gone from `wakers` (dropped sleeps).
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The waker of every sleep still pending, by id.
    wakers: HashMap<u64, Waker>,
    next_id: u64,
}

struct Timer {
    timers: Mutex<Timers>,
    /// Signalled when a deadline earlier than every other is registered.
    changed: Condvar,
}

impl Timer {
    /// The process's timer, its thread started on first use.
    fn get() -> &'static Timer {
        static TIMER: OnceLock<&'static Timer> = OnceLock::new();
        TIMER.get_or_init(|| {
            let timer: &'static Timer =
                Box::leak(Box::new(Timer { timers: Mutex::default(), changed: Condvar::new() }));
            std::thread::Builder::new()
                .name("leasepool-timer".into())
                .spawn(move || timer.run())
                // Without it no sleep would ever end (every acquire timeout
                // and lease expiry hangs): fail loudly at the first sleep.
                .expect("leasepool-threads: could not start the timer thread");
            timer
        })
    }

    fn lock(&self) -> MutexGuard<'_, Timers> {
        // No user code runs under this lock; a poisoned one is consistent.
        self.timers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The timer thread: wakes due sleeps, then waits for the next one.
    fn run(&self) {
        let mut timers = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(&Reverse((deadline, id))) = timers.heap.peek() {
                if deadline > now {
                    break;
                }
                timers.heap.pop();
                due.extend(timers.wakers.remove(&id));
            }
            if !due.is_empty() {
                // Woken without the lock: a waker may poll its sleep at once.
                drop(timers);
                due.into_iter().for_each(Waker::wake);
                timers = self.lock();
                continue;
            }
            timers = match timers.heap.peek() {
                Some(&Reverse((deadline, _))) => {
                    let wait = deadline.saturating_duration_since(now);
                    self.changed.wait_timeout(timers, wait).unwrap_or_else(PoisonError::into_inner).0
                }
                None => self.changed.wait(timers).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// A future that completes at its deadline, at once if it has passed.
pub(crate) struct Sleep {
    deadline: Instant,
    /// Its id once registered with the timer.
    id: Option<u64>,
}

impl Sleep {
    pub(crate) fn until(deadline: Instant) -> Self {
        Sleep { deadline, id: None }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let timer = Timer::get();
        let mut timers = timer.lock();
        match self.id {
            Some(id) => match timers.wakers.get_mut(&id) {
                Some(waker) => waker.clone_from(cx.waker()),
                // Woken by the timer, so due: the clock read above raced it.
                None => return Poll::Ready(()),
            },
            None => {
                let id = timers.next_id;
                timers.next_id += 1;
                let earliest = timers.heap.peek().is_none_or(|&Reverse((d, _))| self.deadline < d);
                timers.heap.push(Reverse((self.deadline, id)));
                timers.wakers.insert(id, cx.waker().clone());
                self.id = Some(id);
                if earliest {
                    timer.changed.notify_one();
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let mut timers = Timer::get().lock();
        if timers.wakers.remove(&id).is_some() && timers.heap.len() > 64 + 2 * timers.wakers.len() {
            let Timers { heap, wakers, .. } = &mut *timers;
            heap.retain(|Reverse((_, id))| wakers.contains_key(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Sleeps end at their deadlines, in deadline order, whatever the
    /// order they were registered in; a past deadline is ready at once.
    #[test]
    fn sleeps_end_at_their_deadlines_in_order() {
        let start = Instant::now();
        futures_executor::block_on(Sleep::until(start));
        let order = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = [60u64, 20, 40]
            .into_iter()
            .map(|ms| {
                let order = Arc::clone(&order);
                std::thread::spawn(move || {
                    let deadline = start + Duration::from_millis(ms);
                    futures_executor::block_on(Sleep::until(deadline));
                    assert!(Instant::now() >= deadline, "ended early");
                    order.lock().unwrap().push(ms);
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let mut ended = order.lock().unwrap().clone();
        ended.sort_unstable();
        assert_eq!(ended, [20, 40, 60]);
    }

    /// Dropped sleeps leave the timer: their wakers go at once, and their
    /// heap entries once they outnumber the live ones.
    #[test]
    fn dropped_sleeps_are_forgotten() {
        let woken = Arc::new(AtomicUsize::new(0));
        struct Count(Arc<AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let waker = Waker::from(Arc::new(Count(Arc::clone(&woken))));
        let far = Instant::now() + Duration::from_secs(3600);
        for _ in 0..1000 {
            let mut sleep = Box::pin(Sleep::until(far));
            assert!(sleep.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        }
        let timers = Timer::get().lock();
        assert!(timers.heap.len() <= 64 + 2 * timers.wakers.len() + 1, "{} entries", timers.heap.len());
        drop(timers);
        assert_eq!(woken.load(Ordering::SeqCst), 0);
    }
}
