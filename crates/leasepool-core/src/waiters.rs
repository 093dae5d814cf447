//! The FIFO queue of acquires waiting for a pool.
//!
//! An intrusive doubly-linked list threaded through a slab: O(1) push, pop
//! and removal from the middle (a dropped or timed-out waiter), no tombstones,
//! and no allocation once the slab has grown. Deadlines live in an indexed
//! heap so that timeouts are found without a scan.

use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::deadline::DeadlineHeap;
use crate::ids::WaiterId;

#[derive(Debug)]
pub(crate) struct Waiter {
    pub(crate) id: WaiterId,
    pub(crate) lease_for: Duration,
    pub(crate) owner: Option<Arc<str>>,
    prev: Option<usize>,
    next: Option<usize>,
}

#[derive(Debug, Default)]
pub(crate) struct WaiterQueue {
    slots: Slab<Waiter>,
    head: Option<usize>,
    tail: Option<usize>,
    deadlines: DeadlineHeap,
    next_seq: u64,
}

impl WaiterQueue {
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub(crate) fn new() -> Self {
        WaiterQueue::default()
    }

    pub(crate) fn push_back(
        &mut self,
        core: u32,
        lease_for: Duration,
        owner: Option<Arc<str>>,
        deadline: Option<Instant>,
    ) -> WaiterId {
        self.next_seq += 1;
        let entry = self.slots.vacant_entry();
        let key = entry.key();
        let id = WaiterId { seq: self.next_seq, key: key as u32, core };
        entry.insert(Waiter { id, lease_for, owner, prev: self.tail, next: None });
        match self.tail {
            Some(t) => self.slots[t].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        if let Some(at) = deadline {
            self.deadlines.push(key, at);
        }
        id
    }

    pub(crate) fn pop_front(&mut self) -> Option<Waiter> {
        let key = self.head?;
        Some(self.unlink(key))
    }

    /// Removes `id` if it is still queued.
    pub(crate) fn remove(&mut self, id: WaiterId) -> Option<Waiter> {
        let key = id.key as usize;
        match self.slots.get(key) {
            Some(w) if w.id == id => Some(self.unlink(key)),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|(at, _)| at)
    }

    /// Removes the earliest waiter whose deadline is `<= now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Waiter> {
        let (at, key) = self.deadlines.peek()?;
        (at <= now).then(|| self.unlink(key))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Waiter> {
        let mut cur = self.head;
        std::iter::from_fn(move || {
            let w = &self.slots[cur?];
            cur = w.next;
            Some(w)
        })
    }

    fn unlink(&mut self, key: usize) -> Waiter {
        let w = self.slots.remove(key);
        match w.prev {
            Some(p) => self.slots[p].next = w.next,
            None => self.head = w.next,
        }
        match w.next {
            Some(n) => self.slots[n].prev = w.prev,
            None => self.tail = w.prev,
        }
        self.deadlines.remove(key);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_with_removal_from_the_middle() {
        let now = Instant::now();
        let mut q = WaiterQueue::default();
        let lease = Duration::from_secs(1);
        let a = q.push_back(1, lease, None, None);
        let b = q.push_back(1, lease, None, Some(now + Duration::from_secs(5)));
        let c = q.push_back(1, lease, None, Some(now + Duration::from_secs(1)));
        assert_eq!(q.remove(b).map(|w| w.id), Some(b));
        assert!(q.remove(b).is_none(), "removing twice is a no-op");
        assert_eq!(q.next_deadline(), Some(now + Duration::from_secs(1)));
        assert_eq!(q.iter().map(|w| w.id).collect::<Vec<_>>(), vec![a, c]);
        assert!(q.pop_expired(now).is_none());
        assert_eq!(q.pop_expired(now + Duration::from_secs(2)).map(|w| w.id), Some(c));
        let d = q.push_back(1, lease, None, None);
        assert_eq!(q.pop_front().map(|w| w.id), Some(a));
        assert_eq!(q.pop_front().map(|w| w.id), Some(d));
        assert!(q.pop_front().is_none());
        assert!(q.is_empty());
        assert_eq!(q.next_deadline(), None);
    }
}
