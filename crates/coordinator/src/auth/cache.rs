//! The roles and permissions caches: an answer read from `system_auth` is reused for a
//! validity period (`roles_validity`, `permissions_validity`), as Cassandra's AuthCache does.
//! A validity of zero turns the cache off. Changes made through this node clear its caches
//! at once; other nodes see them when their entries expire.

use std::collections::HashMap;
use std::hash::Hash;

use parking_lot::RwLock;

/// Entries kept at most; when full, the cache starts over (Cassandra's default maximum).
const MAX_ENTRIES: usize = 1000;

/// Values by key, each until its expiry (microseconds on the coordinator's clock).
#[derive(Debug)]
pub(crate) struct Cache<K, V> {
    validity_micros: i64,
    entries: RwLock<HashMap<K, (i64, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Cache<K, V> {
    pub(crate) fn new(validity: std::time::Duration) -> Cache<K, V> {
        Cache {
            validity_micros: i64::try_from(validity.as_micros()).unwrap_or(i64::MAX),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The value of `key` at time `now`: the cached one while valid, else `load`'s (cached
    /// when it succeeds).
    pub(crate) fn get<E>(
        &self,
        key: &K,
        now: i64,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        if self.validity_micros == 0 {
            return load();
        }
        if let Some((expires, v)) = self.entries.read().get(key)
            && now < *expires
        {
            return Ok(v.clone());
        }
        let v = load()?;
        let mut entries = self.entries.write();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key.clone(),
            (now.saturating_add(self.validity_micros), v.clone()),
        );
        Ok(v)
    }

    /// Forgets everything (after a change of roles or grants on this node).
    pub(crate) fn clear(&self) {
        self.entries.write().clear();
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_entry_is_reused_until_its_validity_ends_then_loaded_again() {
        let cache: Cache<&str, u32> = Cache::new(Duration::from_millis(2000));
        let mut loads = 0;
        let mut get = |now: i64, value: u32| {
            cache
                .get::<Infallible>(&"k", now, || {
                    loads += 1;
                    Ok(value)
                })
                .unwrap_or(0)
        };
        assert_eq!(get(0, 1), 1);
        assert_eq!(get(1_999_999, 2), 1, "still valid: the old answer");
        assert_eq!(get(2_000_000, 3), 3, "expired: loaded again");
        assert_eq!(loads, 2);
    }

    #[test]
    fn a_zero_validity_loads_every_time_and_clear_forgets() {
        let off: Cache<u8, u8> = Cache::new(Duration::ZERO);
        assert_eq!(off.get::<Infallible>(&1, 0, || Ok(1)), Ok(1));
        assert_eq!(off.get::<Infallible>(&1, 0, || Ok(2)), Ok(2));
        let on: Cache<u8, u8> = Cache::new(Duration::from_secs(60));
        assert_eq!(on.get::<Infallible>(&1, 0, || Ok(1)), Ok(1));
        on.clear();
        assert_eq!(on.get::<Infallible>(&1, 0, || Ok(2)), Ok(2));
    }

    #[test]
    fn a_failed_load_is_not_cached() {
        let cache: Cache<u8, u8> = Cache::new(Duration::from_secs(60));
        assert_eq!(cache.get(&1, 0, || Err("down")), Err("down"));
        assert_eq!(cache.get::<&str>(&1, 0, || Ok(5)), Ok(5));
    }
}
