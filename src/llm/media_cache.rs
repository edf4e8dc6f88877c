//! [`MediaCache`]: per-call memory of fetched and encoded images, shared by
//! every clone of a [`crate::Request`] so that a chain's retries and failovers
//! fetch a URL image once and base64-encode inline bytes once.
//!
//! STUB: filled in with the media pipeline.

use std::fmt;
use std::sync::Arc;

/// Shared by clones of one request; a new request starts empty. Never
/// serialized and ignored by equality: it is a cache, not content.
#[derive(Clone, Default)]
pub(crate) struct MediaCache {
    inner: Arc<()>,
}

impl PartialEq for MediaCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for MediaCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = &self.inner;
        f.write_str("MediaCache")
    }
}
