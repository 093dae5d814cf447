//! Side tables keyed by the core's ids, stored densely by the ids' slot.
//!
//! The core reuses a slot as soon as its id ends, so a table indexed by
//! slot stays as small as the most ids ever live at once and is walked in
//! roughly the order the core hands slots out. With thousands of queued
//! acquires that locality is what keeps a grant from missing the cache,
//! which a hash map keyed by id cannot offer.
//!
//! An entry can outlive its id in the core (a grant or a failure not yet
//! taken by its acquire future), so a new id may arrive for a slot that is
//! still taken: the older entry then moves to a small overflow map, where
//! it waits to be taken. Today the table holds the queued acquires, keyed
//! by `WaiterId`.

use std::hash::Hash;

use leasepool_core::WaiterId;
use rustc_hash::FxHashMap;

/// An id with a dense slot (see `WaiterId::slot`).
pub(crate) trait Slotted: Copy + Eq + Hash {
    fn slot(self) -> usize;
}

impl Slotted for WaiterId {
    fn slot(self) -> usize {
        WaiterId::slot(self)
    }
}

/// A map from ids to `V`, dense by slot.
pub(crate) struct SlotTable<K, V> {
    entries: Vec<Option<(K, V)>>,
    /// Entries displaced from their slot by a newer id.
    overflow: FxHashMap<K, V>,
}

impl<K: Slotted, V> Default for SlotTable<K, V> {
    fn default() -> Self {
        SlotTable { entries: Vec::new(), overflow: FxHashMap::default() }
    }
}

impl<K: Slotted, V> SlotTable<K, V> {
    /// Stores `value` for `id` (replacing the value of the same id).
    pub(crate) fn insert(&mut self, id: K, value: V) {
        let slot = id.slot();
        if slot >= self.entries.len() {
            self.entries.resize_with(slot + 1, || None);
        }
        if let Some((old, v)) = self.entries[slot].replace((id, value)) {
            if old != id {
                self.overflow.insert(old, v);
            }
        }
    }

    pub(crate) fn get_mut(&mut self, id: K) -> Option<&mut V> {
        match self.entries.get_mut(id.slot()) {
            Some(Some((k, v))) if *k == id => Some(v),
            _ if self.overflow.is_empty() => None,
            _ => self.overflow.get_mut(&id),
        }
    }

    pub(crate) fn remove(&mut self, id: K) -> Option<V> {
        if let Some(entry) = self.entries.get_mut(id.slot()) {
            if entry.as_ref().is_some_and(|(k, _)| *k == id) {
                return entry.take().map(|(_, v)| v);
            }
        }
        if self.overflow.is_empty() { None } else { self.overflow.remove(&id) }
    }

    /// Every entry with its id, overflow included.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (K, &mut V)> {
        self.entries
            .iter_mut()
            .flatten()
            .map(|(k, v)| (*k, v))
            .chain(self.overflow.iter_mut().map(|(k, v)| (*k, v)))
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().flatten().map(|(_, v)| v).chain(self.overflow.values_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    struct Id(u64, usize);

    impl Slotted for Id {
        fn slot(self) -> usize {
            self.1
        }
    }

    #[test]
    fn ids_are_found_by_slot_and_whole_id() {
        let mut t = SlotTable::default();
        t.insert(Id(1, 3), "a");
        assert_eq!(t.get_mut(Id(1, 3)), Some(&mut "a"));
        assert_eq!(t.get_mut(Id(2, 3)), None);
        assert_eq!(t.get_mut(Id(1, 7)), None);
        t.insert(Id(1, 3), "a2");
        assert_eq!(t.values_mut().count(), 1);
        assert_eq!(t.remove(Id(1, 3)), Some("a2"));
        assert_eq!(t.remove(Id(1, 3)), None);
    }

    #[test]
    fn an_entry_displaced_from_its_slot_is_kept_until_taken() {
        let mut t = SlotTable::default();
        t.insert(Id(1, 3), "granted, not yet taken");
        t.insert(Id(2, 3), "queued later in the same slot");
        t.insert(Id(3, 0), "elsewhere");
        assert_eq!(t.values_mut().count(), 3);
        assert_eq!(t.get_mut(Id(1, 3)), Some(&mut "granted, not yet taken"));
        assert_eq!(t.get_mut(Id(2, 3)), Some(&mut "queued later in the same slot"));
        assert_eq!(t.remove(Id(1, 3)), Some("granted, not yet taken"));
        assert_eq!(t.remove(Id(1, 3)), None);
        assert_eq!(t.remove(Id(2, 3)), Some("queued later in the same slot"));
        assert_eq!(t.remove(Id(3, 0)), Some("elsewhere"));
        assert_eq!(t.values_mut().count(), 0);
    }
}
