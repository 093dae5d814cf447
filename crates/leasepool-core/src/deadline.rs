//! An indexed min-heap of deadlines keyed by slab key.
//!
//! Lease expiries and waiter timeouts both need "earliest deadline" in O(1)
//! and "forget this key" in O(log n) without a scan, and without allocating
//! once the vectors have grown to the working-set size.

use std::time::Instant;

const ABSENT: usize = usize::MAX;

#[derive(Debug, Default)]
pub(crate) struct DeadlineHeap {
    heap: Vec<(Instant, usize)>,
    /// `pos[key]` is the heap index of `key`, or `ABSENT`.
    pos: Vec<usize>,
}

impl DeadlineHeap {
    #[inline]
    pub(crate) fn peek(&self) -> Option<(Instant, usize)> {
        self.heap.first().copied()
    }

    pub(crate) fn push(&mut self, key: usize, at: Instant) {
        if key >= self.pos.len() {
            self.pos.resize(key + 1, ABSENT);
        }
        debug_assert_eq!(self.pos[key], ABSENT, "key pushed twice");
        let i = self.heap.len();
        self.heap.push((at, key));
        self.pos[key] = i;
        if i > 0 {
            self.sift_up(i);
        }
    }

    /// Removes `key` if present; returns whether it was.
    pub(crate) fn remove(&mut self, key: usize) -> bool {
        let Some(&i) = self.pos.get(key) else { return false };
        if i == ABSENT {
            return false;
        }
        self.pos[key] = ABSENT;
        let last = self.heap.pop().expect("a present key is in the heap");
        if i < self.heap.len() {
            // Fill the hole with the former last entry and restore the order
            // (no work when `key` was the last entry, as with a single lease).
            self.heap[i] = last;
            self.pos[last.1] = i;
            self.sift_down(i);
            self.sift_up(i);
        }
        true
    }

    pub(crate) fn clear(&mut self) {
        for &(_, key) in &self.heap {
            self.pos[key] = ABSENT;
        }
        self.heap.clear();
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a].1] = a;
        self.pos[self.heap[b].1] = b;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[i] >= self.heap[parent] {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut min = i;
            if l < self.heap.len() && self.heap[l] < self.heap[min] {
                min = l;
            }
            if r < self.heap.len() && self.heap[r] < self.heap[min] {
                min = r;
            }
            if min == i {
                break;
            }
            self.swap(i, min);
            i = min;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_removes_any_key() {
        let t0 = Instant::now();
        let mut h = DeadlineHeap::default();
        let at = |s| t0 + Duration::from_secs(s);
        for (key, s) in [(0, 5), (1, 3), (2, 9), (3, 1), (4, 7)] {
            h.push(key, at(s));
        }
        assert!(h.remove(1));
        assert!(!h.remove(1));
        assert!(!h.remove(42));
        let order: Vec<_> = std::iter::from_fn(|| {
            let (_, key) = h.peek()?;
            h.remove(key);
            Some(key)
        })
        .collect();
        assert_eq!(order, vec![3, 0, 4, 2]);
        h.push(1, at(2));
        assert_eq!(h.peek(), Some((at(2), 1)));
        h.clear();
        assert_eq!(h.peek(), None);
        h.push(1, at(2));
        assert_eq!(h.peek(), Some((at(2), 1)));
    }

    /// The structure is an indexed heap, not a sorted scan: after every
    /// random push and remove each entry is no earlier than its parent and
    /// `pos` points at every present key (and only at them).
    #[test]
    fn random_pushes_and_removes_keep_the_heap_and_index_consistent() {
        let t0 = Instant::now();
        let mut h = DeadlineHeap::default();
        let mut present = [false; 64];
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        let rounds = if cfg!(miri) { 300 } else { 20_000 };
        for _ in 0..rounds {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 64) as usize;
            if present[key] {
                assert!(h.remove(key));
            } else {
                h.push(key, t0 + Duration::from_millis(x >> 40));
            }
            present[key] = !present[key];
            for i in 1..h.heap.len() {
                assert!(h.heap[i] >= h.heap[(i - 1) / 2], "heap order broken at {i}");
            }
            for (key, &there) in present.iter().enumerate() {
                let pos = h.pos.get(key).copied().unwrap_or(ABSENT);
                if there {
                    assert_eq!(h.heap[pos].1, key, "pos of {key} is stale");
                } else {
                    assert_eq!(pos, ABSENT, "{key} is gone but indexed");
                }
            }
            assert_eq!(h.heap.len(), present.iter().filter(|&&p| p).count());
        }
    }
}
