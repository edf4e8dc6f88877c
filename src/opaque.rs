//! [`Opaque`]: a field that `Debug` does not show.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// A value whose `Debug` shows only `..`: internal state (counters, locks,
/// samples, a boxed stream) or host code (a callback), so that the type
/// holding it can derive `Debug` and still print its settings. Derefs to the
/// value.
#[derive(Clone, Default)]
pub(crate) struct Opaque<T>(pub(crate) T);

impl<T> fmt::Debug for Opaque<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

impl<T> Deref for Opaque<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Opaque<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
