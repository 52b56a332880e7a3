//! Values derived from one published schema, kept until the schema changes.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::Result;
use crate::schema::Schema;

/// A value computed from one published schema and reused while that schema is current.
///
/// Every schema change publishes a new `Arc<Schema>` (a published schema is never changed in
/// place), so the `Arc`'s identity is the schema's version; the cache holds the `Arc`, so its
/// address cannot be reused by a later schema while the entry lives.
pub(crate) struct PerSchema<T>(Mutex<Option<(Arc<Schema>, Arc<T>)>>);

impl<T> Default for PerSchema<T> {
    fn default() -> Self {
        PerSchema(Mutex::new(None))
    }
}

impl<T> std::fmt::Debug for PerSchema<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerSchema")
    }
}

impl<T> PerSchema<T> {
    /// The value for `schema`: the cached one when it was made from this very schema,
    /// otherwise `make()`'s (which then replaces it). A failure is not cached.
    pub(crate) fn get(
        &self,
        schema: &Arc<Schema>,
        make: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        if let Some((s, v)) = &*self.0.lock()
            && Arc::ptr_eq(s, schema)
        {
            return Ok(v.clone());
        }
        let v = Arc::new(make()?);
        *self.0.lock() = Some((schema.clone(), v.clone()));
        Ok(v)
    }

    /// Forgets the cached value: the next [`PerSchema::get`] makes it again.
    pub(crate) fn clear(&self) {
        *self.0.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_made_once_per_published_schema_and_again_after_a_change() {
        let cache = PerSchema::<u32>::default();
        let first = Arc::new(Schema::default());
        let mut made = 0;
        let mut get = |s: &Arc<Schema>| {
            *cache
                .get(s, || {
                    made += 1;
                    Ok(made)
                })
                .unwrap()
        };
        assert_eq!(get(&first), 1);
        assert_eq!(get(&first), 1);
        // An equal schema published anew is a new version: recomputed.
        let second = Arc::new(Schema::default());
        assert_eq!(get(&second), 2);
        assert_eq!(get(&second), 2);
        assert_eq!(get(&first), 3);
    }

    #[test]
    fn a_failure_is_not_cached() {
        let cache = PerSchema::<u32>::default();
        let schema = Arc::new(Schema::default());
        assert!(
            cache
                .get(&schema, || Err(crate::Error::invalid("no")))
                .is_err()
        );
        assert_eq!(*cache.get(&schema, || Ok(7)).unwrap(), 7);
    }
}
