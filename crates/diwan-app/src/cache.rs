//! Small in-memory caches of data that changes rarely and is read on every request of a kind
//! (calendars, the portal's view of an administration, deadline rules). Entries expire after a
//! fixed time, because other servers of a PostgreSQL deployment may change the data; changes
//! made through this process forget the entries they touch at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Values kept for `ttl` after they were read.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The value for `key`, if read less than `ttl` ago.
    pub fn get(&self, key: &K) -> Option<V> {
        let m = self.map.lock().ok()?;
        m.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(key, (Instant::now(), value));
        }
    }

    pub fn forget(&self, key: &K) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(key);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut m) = self.map.lock() {
            m.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let c = TtlCache::new(Duration::from_millis(30));
        c.put(1, "a");
        c.put(2, "b");
        assert_eq!(c.get(&1), Some("a"));
        c.forget(&1);
        assert_eq!(c.get(&1), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&2), None, "expired");
        c.put(3, "c");
        c.clear();
        assert_eq!(c.get(&3), None);
    }
}
