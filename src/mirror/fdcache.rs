//! A bounded cache of O_PATH fds of directories, keyed by node id.
//!
//! Keeping one fd per inode (libfuse's passthrough_ll) runs into the fd hard limit on
//! a walk of /usr. Instead paths are resolved from the nearest cached ancestor, and
//! this cache keeps at most `capacity` directory fds, dropping the least recently used
//! in batches. Fds are shared as `Arc`s so an eviction never closes an fd another
//! thread is resolving from.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};

/// The most directory fds kept open.
pub const MAX_CAPACITY: usize = 1024;

/// The capacity to use under the process's current fd limit: a quarter of the soft
/// limit (the build's open files and the rest of the process need the others), at
/// most [`MAX_CAPACITY`], at least 16.
pub fn capacity_for_fd_limit(soft_limit: u64) -> usize {
    let quarter = usize::try_from(soft_limit / 4).unwrap_or(MAX_CAPACITY);
    quarter.clamp(16, MAX_CAPACITY)
}

#[derive(Debug)]
pub struct DirCache<T = OwnedFd> {
    inner: Mutex<Inner<T>>,
    capacity: usize,
}

#[derive(Debug)]
struct Inner<T> {
    map: HashMap<u64, (Arc<T>, u64)>,
    tick: u64,
}

impl<T> DirCache<T> {
    pub fn new(capacity: usize) -> Self {
        DirCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                tick: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: u64) -> Option<Arc<T>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.map.get_mut(&id)?;
        entry.1 = tick;
        Some(entry.0.clone())
    }

    pub fn insert(&self, id: u64, fd: Arc<T>) {
        let mut inner = self.lock();
        if inner.map.len() >= self.capacity && !inner.map.contains_key(&id) {
            inner.evict(self.capacity);
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.map.insert(id, (fd, tick));
    }

    pub fn remove(&self, id: u64) {
        self.lock().map.remove(&id);
    }

    /// Closes every cached fd (when the process ran out of fds).
    pub fn clear(&self) {
        self.lock().map.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

impl<T> Inner<T> {
    /// Drops the least recently used eighth (at least one entry), so the O(n) scan is
    /// paid once per many insertions.
    fn evict(&mut self, capacity: usize) {
        let batch = (capacity / 8).max(1);
        let mut ticks: Vec<u64> = self.map.values().map(|(_, t)| *t).collect();
        if ticks.len() <= batch {
            self.map.clear();
            return;
        }
        let (_, &mut cutoff, _) = ticks.select_nth_unstable(batch - 1);
        self.map.retain(|_, (_, t)| *t > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_exceeds_capacity_and_keeps_recent_entries() {
        let c: DirCache<u32> = DirCache::new(16);
        for id in 0..100 {
            c.insert(id, Arc::new(id as u32));
            // Keep touching entry 0: it must survive every eviction.
            assert!(c.get(0).is_some());
            assert!(c.len() <= 16);
        }
        assert!(c.get(99).is_some());
        assert!(c.get(50).is_none());
    }

    #[test]
    fn capacity_follows_the_fd_limit() {
        assert_eq!(capacity_for_fd_limit(1024), 256);
        assert_eq!(capacity_for_fd_limit(20_000), MAX_CAPACITY);
        assert_eq!(capacity_for_fd_limit(20), 16);
        assert_eq!(capacity_for_fd_limit(u64::MAX), MAX_CAPACITY);
    }

    #[test]
    fn remove_forgets_an_entry() {
        let c: DirCache<u32> = DirCache::new(4);
        c.insert(1, Arc::new(1));
        c.remove(1);
        assert!(c.get(1).is_none());
    }
}
