//! The media pipeline: images for providers that need bytes (Ollama, Gemini,
//! Anthropic when configured). URL images are fetched once per call with
//! limits; inline bytes are base64-encoded once per call.
//!
//! STUB: the interface is fixed; the fetching and the per-call cache are
//! being filled in.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use super::client::HttpClient;
use crate::{Error, Image, ImageSource, Request, Result};

/// Limits on fetching an image by URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaLimits {
    /// Largest image accepted, in bytes. Default: 20 MiB.
    pub max_bytes: u64,
    /// Longest time a fetch may take, connect to last byte. Default: 30 s.
    pub timeout: Duration,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            max_bytes: 20 * 1024 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// An image ready for a provider that takes bytes.
#[derive(Debug, Clone)]
pub(crate) struct InlineImage {
    /// The media type, e.g. `image/png`.
    pub(crate) media_type: String,
    /// The bytes, base64-encoded (standard alphabet, padded, no `data:` prefix).
    pub(crate) base64: Arc<str>,
}

/// The image's bytes as base64, fetching a URL image (once per call: clones
/// of `request` share the result) within `limits`.
///
/// # Errors
/// A request-specific error naming the URL's host for a non-http(s) URL, an
/// oversize body, a non-image content type, a slow server or a failed fetch.
pub(crate) async fn inline_image(
    client: &HttpClient,
    request: &Request,
    image: &Image,
    limits: &MediaLimits,
) -> Result<InlineImage> {
    let _ = (client, request, limits);
    match &image.source {
        ImageSource::Inline { media_type, data } => Ok(InlineImage {
            media_type: media_type.clone(),
            base64: Arc::from(base64::engine::general_purpose::STANDARD.encode(data)),
        }),
        ImageSource::Url { .. } => Err(Error::other(
            crate::ErrorClass::RequestSpecific,
            "fetching image URLs is not built yet",
        )),
    }
}
