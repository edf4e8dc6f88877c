//! [`CallScratch`]: per-call state that the layers above the contract keep on
//! a [`crate::Request`] without the request knowing what it is.
//!
//! The request does no I/O and names no I/O type; the HTTP layer keeps its
//! media cache here (one fetch of a URL image per chain call, shared by the
//! call's retries and failovers). Clones of a request share the scratch; a
//! chain starts a fresh one per call (`Request::renew_scratch`).
//!
//! Only a request with an image needs one, so a request without holds none:
//! the shared table is an allocation and a lock that a text call would pay
//! for on every call and never use (ADR 0021).

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::sync::LockUnpoisoned as _;

/// One value per type.
type Slots = Mutex<Vec<Arc<dyn Any + Send + Sync>>>;

/// Values keyed by their type, shared by clones. Never serialized and ignored
/// by equality: it is a cache, not content. The default holds no table.
#[derive(Clone, Default)]
pub(crate) struct CallScratch {
    slots: Option<Arc<Slots>>,
}

impl CallScratch {
    /// A fresh, empty table, shared by the clones made from now on.
    pub(crate) fn fresh() -> Self {
        CallScratch {
            slots: Some(Arc::default()),
        }
    }

    /// Whether this scratch holds a table (clones share its values).
    pub(crate) fn is_shared(&self) -> bool {
        self.slots.is_some()
    }

    /// The value of type `T`, created with `T::default()` on first use and
    /// shared by every clone from then on. Without a table, a new value each
    /// time.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn get_or_default<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        let Some(slots) = &self.slots else {
            return Arc::default();
        };
        let mut slots = slots.lock_unpoisoned();
        for slot in slots.iter() {
            if let Ok(found) = Arc::clone(slot).downcast::<T>() {
                return found;
            }
        }
        let fresh = Arc::new(T::default());
        slots.push(Arc::clone(&fresh) as Arc<dyn Any + Send + Sync>);
        fresh
    }
}

impl PartialEq for CallScratch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for CallScratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallScratch")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_values_and_a_new_scratch_starts_empty() {
        let scratch = CallScratch::fresh();
        assert!(scratch.is_shared());
        let a = scratch.get_or_default::<Mutex<u32>>();
        *a.lock_unpoisoned() = 7;
        let b = scratch.clone().get_or_default::<Mutex<u32>>();
        assert!(Arc::ptr_eq(&a, &b));
        // Another type has its own slot.
        assert_eq!(*scratch.get_or_default::<String>(), "");
        let fresh = CallScratch::fresh().get_or_default::<Mutex<u32>>();
        assert_eq!(*fresh.lock_unpoisoned(), 0);
        // Without a table nothing is shared: each use starts from the default.
        let none = CallScratch::default();
        assert!(!none.is_shared());
        *none.get_or_default::<Mutex<u32>>().lock_unpoisoned() = 7;
        assert_eq!(
            *none
                .clone()
                .get_or_default::<Mutex<u32>>()
                .lock_unpoisoned(),
            0
        );
        assert_eq!(scratch, CallScratch::default());
        assert_eq!(format!("{scratch:?}"), "CallScratch");
    }
}
