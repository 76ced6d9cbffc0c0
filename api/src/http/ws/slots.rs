//! Counts of open sockets by key (a client address, a token), each held by a slot that gives
//! its place back when the socket ends, however it ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

type Counts<K> = Arc<Mutex<HashMap<K, usize>>>;

/// Open sockets per key, in this process.
pub struct SocketCounts<K> {
    open: Counts<K>,
}

impl<K> Default for SocketCounts<K> {
    fn default() -> Self {
        Self {
            open: Arc::default(),
        }
    }
}

fn lock<K>(open: &Counts<K>) -> MutexGuard<'_, HashMap<K, usize>> {
    // counts are updated in one statement each: a panic elsewhere leaves them meaningful
    open.lock().unwrap_or_else(|p| p.into_inner())
}

impl<K: Eq + Hash + Clone> SocketCounts<K> {
    /// A place for one more socket of `key`, unless `max` are open already.
    pub fn acquire(&self, key: K, max: usize) -> Option<SocketSlot<K>> {
        let mut open = lock(&self.open);
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= max {
            if *n == 0 {
                open.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(SocketSlot {
            key,
            open: self.open.clone(),
        })
    }

    /// Sockets of `key` open now.
    #[cfg(test)]
    pub fn count(&self, key: &K) -> usize {
        lock(&self.open).get(key).copied().unwrap_or(0)
    }
}

/// One socket's place in a [`SocketCounts`]; dropping it gives the place back.
pub struct SocketSlot<K: Eq + Hash> {
    key: K,
    open: Counts<K>,
}

impl<K: Eq + Hash> Drop for SocketSlot<K> {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_past_the_bound_and_given_back_on_drop() {
        let counts = SocketCounts::default();
        let a = counts.acquire("a", 2).expect("first");
        let _b = counts.acquire("a", 2).expect("second");
        assert!(counts.acquire("a", 2).is_none());
        assert!(counts.acquire("other", 2).is_some());
        drop(a);
        assert_eq!(counts.count(&"a"), 1);
        assert!(counts.acquire("a", 2).is_some());
    }

    #[test]
    fn a_bound_of_zero_refuses_without_keeping_the_key() {
        let counts = SocketCounts::default();
        assert!(counts.acquire("a", 0).is_none());
        assert_eq!(counts.count(&"a"), 0);
    }
}
