//! [`MediaCache`]: per-call memory of fetched and encoded images, kept in the
//! scratch of a [`crate::Request`] (shared by its clones, renewed by a chain
//! per call) so that a chain's retries and failovers fetch a URL image once
//! and base64-encode inline bytes once. The request itself does no I/O and
//! does not know this type.
//!
//! Two tables, each behind its own lock held only to find or insert a slot
//! (never across an encode or a fetch):
//! - inline bytes, keyed by the address and length of their [`Bytes`]. The
//!   entry keeps a clone of the `Bytes`, so the allocation stays alive and its
//!   address cannot be reused for other content while the key exists (`Bytes`
//!   are immutable, so equal address and length mean equal content);
//! - URL images (`http`, `https`, `data:`), keyed by the whole URL, each slot a
//!   [`tokio::sync::OnceCell`] holding the outcome: concurrent users of the same
//!   request wait for one fetch, and a failure is remembered as its error (the
//!   same call would fail the same way).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::sync::LockUnpoisoned as _;
use crate::{Request, Result};

/// An image resolved to base64, as remembered for a URL.
#[derive(Debug, Clone)]
pub(crate) struct CachedImage {
    /// The media type, e.g. `image/png`.
    pub(crate) media_type: String,
    /// The bytes, base64-encoded (standard alphabet, padded).
    pub(crate) base64: Arc<str>,
}

/// The outcome of resolving one URL, shared by every clone of the request.
pub(crate) type UrlSlot = Arc<OnceCell<Result<CachedImage>>>;

/// The media cache of `request`'s call, created empty on first use.
pub(crate) fn of(request: &Request) -> MediaCache {
    MediaCache::clone(&request.scratch().get_or_default::<MediaCache>())
}

/// Shared by clones of one request; a new request starts empty. Never
/// serialized and ignored by equality: it is a cache, not content.
#[derive(Clone, Default)]
pub(crate) struct MediaCache {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (address, length) of inline bytes → their base64.
    encoded: Mutex<HashMap<(usize, usize), Encoded>>,
    /// URL → (variant, the outcome of fetching or decoding it).
    urls: Mutex<HashMap<String, Vec<(u64, UrlSlot)>>>,
    /// How many times inline bytes were actually encoded (tests prove reuse).
    #[cfg(test)]
    encodes: std::sync::atomic::AtomicUsize,
}

struct Encoded {
    /// Keeps the allocation alive, so the key's address is not reused.
    _pin: Bytes,
    base64: Arc<OnceLock<Arc<str>>>,
}

impl MediaCache {
    /// The base64 (standard alphabet, padded) of `data`, encoded once for
    /// every clone of the request however often it is asked for.
    pub(crate) fn base64_of(&self, data: &Bytes) -> Arc<str> {
        let key = (data.as_ptr() as usize, data.len());
        let slot = {
            let mut table = self.inner.encoded.lock_unpoisoned();
            Arc::clone(
                &table
                    .entry(key)
                    .or_insert_with(|| Encoded {
                        _pin: data.clone(),
                        base64: Arc::new(OnceLock::new()),
                    })
                    .base64,
            )
        };
        // Encoded outside the table's lock; a concurrent caller for the same
        // bytes waits for this encode instead of repeating it.
        Arc::clone(slot.get_or_init(|| {
            #[cfg(test)]
            self.inner
                .encodes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Arc::from(base64::engine::general_purpose::STANDARD.encode(data))
        }))
    }

    /// The slot remembering the outcome for `url` under `variant` (what the
    /// outcome depends on besides the URL: the media pipeline passes its size
    /// limit, so a provider with a larger limit is not refused by the outcome
    /// of a stricter one), created empty on first use. Fill it with
    /// [`OnceCell::get_or_init`].
    pub(crate) fn url_slot(&self, url: &str, variant: u64) -> UrlSlot {
        let mut table = self.inner.urls.lock_unpoisoned();
        if let Some(slots) = table.get_mut(url) {
            if let Some((_, slot)) = slots.iter().find(|(v, _)| *v == variant) {
                return Arc::clone(slot);
            }
            let slot = UrlSlot::default();
            slots.push((variant, Arc::clone(&slot)));
            return slot;
        }
        let slot = UrlSlot::default();
        table.insert(url.to_owned(), vec![(variant, Arc::clone(&slot))]);
        slot
    }

    /// How many inline images were really encoded.
    #[cfg(test)]
    pub(crate) fn encode_count(&self) -> usize {
        self.inner
            .encodes
            .load(std::sync::atomic::Ordering::Relaxed)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_encoding_and_distinct_bytes_do_not() {
        let cache = MediaCache::default();
        let data = Bytes::from_static(b"\x89PNG\r\n\x1a\nrest");
        let a = cache.base64_of(&data);
        let b = cache.clone().base64_of(&data.clone());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.encode_count(), 1);
        assert_eq!(&*a, "iVBORw0KGgpyZXN0");
        // Same content at another address: its own entry, still correct.
        let other = Bytes::from(data.to_vec());
        assert_eq!(&*cache.base64_of(&other), "iVBORw0KGgpyZXN0");
        assert_eq!(cache.encode_count(), 2);
        // A slice of the same allocation has another length: another key.
        assert_eq!(&*cache.base64_of(&data.slice(0..3)), "iVBO");
        // A new cache (a new request) starts empty.
        let fresh = MediaCache::default();
        let c = fresh.base64_of(&data);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(fresh.encode_count(), 1);
    }

    #[test]
    fn url_slots_are_shared_by_clones() {
        let cache = MediaCache::default();
        let a = cache.url_slot("https://example.com/a.png", 10);
        let b = cache.clone().url_slot("https://example.com/a.png", 10);
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache.url_slot("https://example.com/b.png", 10);
        assert!(!Arc::ptr_eq(&a, &c));
        let d = cache.url_slot("https://example.com/a.png", 20);
        assert!(!Arc::ptr_eq(&a, &d));
        assert!(Arc::ptr_eq(
            &d,
            &cache.url_slot("https://example.com/a.png", 20)
        ));
        assert_eq!(cache, MediaCache::default());
        assert_eq!(format!("{cache:?}"), "MediaCache");
    }
}
