//! The media pipeline: images for providers that need bytes (Ollama, Gemini,
//! Anthropic when configured). Providers that accept URLs send URLs and do not
//! come here.
//!
//! What `inline_image` does with an image part:
//! - **Inline bytes** are base64-encoded once per call: the request's media
//!   cache (shared by every clone of the request, so by a chain's retries and
//!   failovers) remembers the encoding.
//! - **`data:` URLs** are decoded locally (base64 or percent-encoded payload),
//!   never fetched.
//! - **`http` / `https` URLs** are fetched once per call, within
//!   [`MediaLimits`]: a size cap (checked against `Content-Length` before the
//!   body is read, and against the bytes received while it is read, so at
//!   most the cap plus one network chunk is ever buffered), a time cap on the
//!   whole fetch (connect to last byte), at most a few redirects (http/https
//!   only), and a content type that is an image (`image/*`; a missing or
//!   `application/octet-stream` type is accepted when the bytes are PNG, JPEG,
//!   GIF or WebP). The outcome, success or failure, is remembered for the
//!   call, and concurrent attempts wait for the one fetch.
//! - **Any other scheme** (`file:`, `ftp:`…) is refused.
//!
//! Every failure is request-specific (design §2: this request cannot succeed
//! here; advance without penalty) and names the image's host, never the
//! whole URL, whose query may carry a token. The image host never sees the
//! provider's credential or headers: fetches go through a separate client.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use reqwest::header::{CONTENT_TYPE, HeaderMap};

use super::client::HttpClient;
use super::errors;
use super::media_cache::{self, CachedImage};
use crate::setters::chained_setters;
use crate::{Error, ErrorClass, ErrorKind, Image, ImageSource, Request, Result};

/// Limits on fetching an image by URL. They apply to `http`/`https` images
/// only: inline bytes and `data:` URLs are already in memory.
///
/// ```
/// use std::time::Duration;
/// use majordomo::providers::http::MediaLimits;
///
/// let limits = MediaLimits::default()
///     .max_bytes(5 * 1024 * 1024)
///     .timeout(Duration::from_secs(10));
/// assert_eq!(limits.max_bytes, 5 * 1024 * 1024);
/// assert_eq!(MediaLimits::default().max_bytes, 20 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaLimits {
    /// Largest image accepted, in bytes. A larger `Content-Length` is refused
    /// before the body is read; a body without one is read only until it
    /// passes this size. Default: 20 MiB.
    pub max_bytes: u64,
    /// Longest time a fetch may take, connect to last byte (redirects
    /// included). The provider's request timeout bounds it too, when smaller.
    /// Default: 30 s.
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

impl MediaLimits {
    chained_setters! {
        /// Sets the largest image accepted, in bytes.
        max_bytes(max_bytes: u64) => max_bytes = max_bytes;
        /// Sets the longest time a whole fetch may take.
        timeout(timeout: Duration) => timeout = timeout;
    }
}

/// An image ready for a provider that takes bytes.
#[derive(Debug, Clone)]
pub(crate) struct InlineImage {
    /// The media type, e.g. `image/png` (Ollama takes bare base64 and never reads it).
    #[cfg_attr(
        not(any(feature = "openai", feature = "anthropic", feature = "gemini")),
        allow(dead_code)
    )]
    pub(crate) media_type: String,
    /// The bytes, base64-encoded (standard alphabet, padded, no `data:` prefix).
    pub(crate) base64: Arc<str>,
}

/// The image's bytes as base64, fetching a URL image (once per call: clones
/// of `request` share the result) within `limits`.
///
/// The fetch of an `http`/`https` image is bounded by the smaller of
/// `limits.timeout` and the provider's request timeout, and by
/// `limits.max_bytes`. Its outcome is remembered in the request's media
/// cache, per URL and size limit; a failure is remembered as its error.
///
/// # Errors
/// A request-specific error naming the URL's host for a non-http(s) URL, an
/// oversize body, a non-image content type, a slow server or a failed fetch;
/// and for a malformed `data:` URL.
pub(crate) async fn inline_image(
    client: &HttpClient,
    request: &Request,
    image: &Image,
    limits: &MediaLimits,
) -> Result<InlineImage> {
    let cache = media_cache::of(request);
    match &image.source {
        ImageSource::Inline { media_type, data } => Ok(InlineImage {
            media_type: media_type.clone(),
            base64: cache.base64_of(data),
        }),
        ImageSource::Url { url } => {
            let is_data = is_data_url(url);
            // A data: URL does not depend on the limits: one slot for all.
            let variant = if is_data { 0 } else { limits.max_bytes };
            let slot = cache.url_slot(url, variant);
            let outcome = slot
                .get_or_init(|| async {
                    if is_data {
                        decode_data_url(url)
                    } else {
                        let timeout = limits.timeout.min(client.settings().request_timeout);
                        fetch(client, url, limits.max_bytes, timeout).await
                    }
                })
                .await;
            match outcome {
                Ok(cached) => Ok(InlineImage {
                    media_type: cached.media_type.clone(),
                    base64: Arc::clone(&cached.base64),
                }),
                Err(error) => Err(error.clone()),
            }
        }
    }
}

/// A request-specific error: this image cannot be used, wherever it is sent.
fn refused(message: impl Into<String>) -> Error {
    Error::other(ErrorClass::RequestSpecific, message)
}

fn is_data_url(url: &str) -> bool {
    url.get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("data:"))
}

// ===== http(s) =====

/// Fetches `url` within the limits and encodes it.
async fn fetch(
    client: &HttpClient,
    url: &str,
    max_bytes: u64,
    timeout: Duration,
) -> Result<CachedImage> {
    let parsed =
        url::Url::parse(url).map_err(|e| refused(format!("image URL is not a valid URL: {e}")))?;
    let host = host_of(&parsed);
    if !matches!(parsed.scheme(), "http" | "https") {
        let at = host
            .as_deref()
            .map(|h| format!(" (host {h})"))
            .unwrap_or_default();
        return Err(refused(format!(
            "image URL scheme {:?}{at} is not supported: only http, https and data: URLs are",
            parsed.scheme()
        )));
    }
    let host = host.unwrap_or_else(|| "(no host)".to_owned());
    let read = read_image(client, url, &host, max_bytes, timeout);
    // The whole exchange, connect to last byte, not just the head.
    let (media_type, bytes) = match tokio::time::timeout(timeout, read).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(Error::timeout(format!(
                "image from {host}: not received within {timeout:?}"
            ))
            .with_class(ErrorClass::RequestSpecific));
        }
    };
    tracing::debug!(host = %host, bytes = bytes.len(), media_type = %media_type, "fetched image");
    Ok(CachedImage {
        media_type,
        base64: Arc::from(base64::engine::general_purpose::STANDARD.encode(&bytes)),
    })
}

/// `host` or `host:port`, as the URL names it (no user info, path or query).
fn host_of(url: &url::Url) -> Option<String> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// GETs the image and reads its body, at most `max_bytes` of it.
async fn read_image(
    client: &HttpClient,
    url: &str,
    host: &str,
    max_bytes: u64,
    timeout: Duration,
) -> Result<(String, Vec<u8>)> {
    let failed = |e: Error| {
        let kind = match e.kind() {
            ErrorKind::Timeout => ErrorKind::Timeout,
            _ => ErrorKind::Transport,
        };
        Error::new(
            kind,
            format!("image from {host} could not be fetched: {}", e.message()),
        )
        .with_class(ErrorClass::RequestSpecific)
    };
    let mut response = client.get_absolute(url, timeout).await.map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(refused(format!(
            "image from {host}: HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        )));
    }
    let declared = declared_type(response.headers());
    if let Some(declared) = &declared {
        if !is_image_type(declared) && !is_untyped(declared) {
            return Err(refused(format!(
                "image from {host} has content type {declared:?}, not an image"
            )));
        }
    }
    let over = || {
        refused(format!(
            "image from {host} is over the {max_bytes}-byte limit"
        ))
    };
    if let Some(length) = response.content_length() {
        if length > max_bytes {
            return Err(refused(format!(
                "image from {host} is {length} bytes, over the {max_bytes}-byte limit"
            )));
        }
    }
    let reserve = response.content_length().unwrap_or(0).min(max_bytes);
    let mut body: Vec<u8> = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(errors::from_transport(&e.without_url(), None)))?
    {
        // Checked before the chunk is kept: never more than the cap in `body`.
        let total = u64::try_from(body.len() + chunk.len()).unwrap_or(u64::MAX);
        if total > max_bytes {
            return Err(over());
        }
        body.extend_from_slice(&chunk);
    }
    let media_type = media_type_of(declared.as_deref(), &body)
        .map_err(|why| refused(format!("image from {host} {why}")))?;
    Ok((media_type, body))
}

/// The `Content-Type` without parameters, lower-cased; `None` when absent.
fn declared_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?;
    let Ok(text) = value.to_str() else {
        return Some("(unreadable)".to_owned());
    };
    let essence = text.split(';').next().unwrap_or("").trim();
    if essence.is_empty() {
        return None;
    }
    let mut essence = essence.to_ascii_lowercase();
    if essence.len() > 100 {
        let mut cut = 100;
        while !essence.is_char_boundary(cut) {
            cut -= 1;
        }
        essence.truncate(cut);
        essence.push('…');
    }
    Some(essence)
}

// ===== media types =====

fn is_image_type(media_type: &str) -> bool {
    media_type.len() > "image/".len() && media_type.starts_with("image/")
}

/// Types that say nothing about the content: the bytes decide.
fn is_untyped(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/octet-stream" | "binary/octet-stream"
    )
}

/// The media type to send: the declared one when it is an image, else the
/// one the bytes show. `Err` says why the bytes are not an image.
fn media_type_of(declared: Option<&str>, bytes: &[u8]) -> std::result::Result<String, String> {
    if bytes.is_empty() {
        return Err("is empty".to_owned());
    }
    match declared {
        Some(t) if is_image_type(t) => Ok(t.to_owned()),
        Some(t) if !is_untyped(t) => Err(format!("has content type {t:?}, not an image")),
        _ => sniff(bytes).map(str::to_owned).ok_or_else(|| {
            "has no image content type, and its bytes are not PNG, JPEG, GIF or WebP".to_owned()
        }),
    }
}

/// The image format the first bytes show.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

// ===== data: URLs =====

/// Base64 as found in the wild: padded or not.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The URL-safe alphabet, padded or not.
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes `data:[<media type>][;params][;base64],<payload>` (RFC 2397).
fn decode_data_url(url: &str) -> Result<CachedImage> {
    let rest = url.get(5..).unwrap_or("");
    let Some((header, payload)) = rest.split_once(',') else {
        return Err(refused("data: URL image has no ',' before its data"));
    };
    let mut params = header.split(';');
    let declared = params
        .next()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase);
    let is_base64 = params.any(|p| p.trim().eq_ignore_ascii_case("base64"));
    let raw: Vec<u8> = percent_encoding::percent_decode_str(payload).collect();
    let bytes = if is_base64 {
        let text: Vec<u8> = raw
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        LENIENT
            .decode(&text)
            .or_else(|_| LENIENT_URL_SAFE.decode(&text))
            .map_err(|e| refused(format!("data: URL image has invalid base64: {e}")))?
    } else {
        raw
    };
    let media_type = media_type_of(declared.as_deref(), &bytes)
        .map_err(|why| refused(format!("data: URL image {why}")))?;
    Ok(CachedImage {
        media_type,
        base64: Arc::from(base64::engine::general_purpose::STANDARD.encode(&bytes)),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::providers::http::HttpSettings;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    fn client() -> HttpClient {
        HttpClient::new(HttpSettings::new("http://unused")).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn url_image(url: impl Into<String>) -> Image {
        Image::url(url)
    }

    fn request_with(image: &Image) -> Request {
        Request::new().user_with_image("what is this?", image.clone())
    }

    fn small(max_bytes: u64, timeout: Duration) -> MediaLimits {
        MediaLimits::default().max_bytes(max_bytes).timeout(timeout)
    }

    fn host_of_server(server: &MockServer) -> String {
        server.address().to_string()
    }

    /// Inlines the image at `url`, in a fresh request of its own, through
    /// `client` within `limits`.
    async fn inline_url(
        client: &HttpClient,
        url: impl Into<String>,
        limits: &MediaLimits,
    ) -> Result<InlineImage> {
        let image = url_image(url);
        inline_image(client, &request_with(&image), &image, limits).await
    }

    fn img_url(server: &MockServer) -> String {
        format!("{}/img.png", server.uri())
    }

    /// The error of inlining `{server}/img.png` within `limits`.
    async fn fetch_error(server: &MockServer, limits: MediaLimits) -> Error {
        inline_url(&client(), img_url(server), &limits)
            .await
            .unwrap_err()
    }

    /// The address of a [`raw_server`] and the error of inlining its
    /// `/img.png` within `limits`.
    async fn raw_fetch_error(
        head: &'static str,
        body: Vec<u8>,
        endless: bool,
        stall: bool,
        limits: &MediaLimits,
    ) -> (String, Error) {
        let addr = raw_server(head, body, endless, stall).await;
        let error = inline_url(&client(), format!("http://{addr}/img.png"), limits)
            .await
            .unwrap_err();
        (addr, error)
    }

    /// Asserts that inlining the image a server answers with `template`
    /// fails, naming the server's host and `reason`.
    async fn assert_served_refused(template: ResponseTemplate, limits: MediaLimits, reason: &str) {
        let server = image_server(template, 1).await;
        let error = fetch_error(&server, limits).await;
        assert_refused(&error, &host_of_server(&server));
        assert_refused(&error, reason);
    }

    /// A server of one PNG, fetched `expect` times, and a request with it.
    async fn png_request(expect: u64) -> (MockServer, Image, Request) {
        let server = image_server(png_template(), expect).await;
        let image = url_image(img_url(&server));
        let request = request_with(&image);
        (server, image, request)
    }

    /// A timeout must come back well before the server's 10-second stall.
    fn assert_prompt_timeout(started: Instant, error: &Error) {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(error.is_timeout(), "{error:?}");
    }

    async fn image_server(template: ResponseTemplate, expect: u64) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/img.png"))
            .respond_with(template)
            .expect(expect)
            .mount(&server)
            .await;
        server
    }

    fn png_template() -> ResponseTemplate {
        ResponseTemplate::new(200)
            .insert_header("content-type", "image/png")
            .set_body_bytes(PNG)
    }

    fn assert_refused(error: &Error, needle: &str) {
        assert_eq!(error.class(), ErrorClass::RequestSpecific, "{error:?}");
        let text = error.to_string();
        assert!(text.contains(needle), "{text:?} should name {needle:?}");
    }

    /// A raw server that answers each connection with `head` and then the
    /// bytes `body` yields (forever when it is endless), ignoring the request.
    async fn raw_server(head: &'static str, body: Vec<u8>, endless: bool, stall: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    loop {
                        if socket.write_all(&body).await.is_err() {
                            return;
                        }
                        if !endless {
                            break;
                        }
                    }
                    if stall {
                        // Hold the connection open until the client leaves.
                        while let Ok(n) = socket.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    }
                });
            }
        });
        addr.to_string()
    }

    #[tokio::test]
    async fn inline_bytes_are_encoded_once_across_clones() {
        let image = Image::inline("image/png", PNG.to_vec());
        let request = request_with(&image);
        let limits = MediaLimits::default();
        let client = client();
        let first = inline_image(&client, &request, &image, &limits)
            .await
            .unwrap();
        let retry = request.clone();
        let again = inline_image(&client, &retry, &image.clone(), &limits)
            .await
            .unwrap();
        assert_eq!(first.media_type, "image/png");
        assert_eq!(&*first.base64, b64(PNG));
        assert!(Arc::ptr_eq(&first.base64, &again.base64));
        assert_eq!(media_cache::of(&request).encode_count(), 1);
        // Another request (another call) encodes its own.
        let other = request_with(&image);
        let third = inline_image(&client, &other, &image, &limits)
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&first.base64, &third.base64));
        assert_eq!(&*third.base64, &*first.base64);
    }

    #[tokio::test]
    async fn data_urls_are_decoded_locally() {
        let client = client();
        let limits = MediaLimits::default();
        let cases = [
            (format!("data:image/png;base64,{}", b64(PNG)), "image/png"),
            // Unpadded, wrapped, media type in upper case with a parameter.
            (
                format!(
                    "data:IMAGE/GIF;name=x;base64,{}",
                    b64(b"GIF89a\x01\0\x01\0").trim_end_matches('=')
                ),
                "image/gif",
            ),
            // No media type: sniffed from the bytes; base64 percent-encoded.
            (
                format!("data:;base64,{}", b64(PNG).replace('+', "%2B")),
                "image/png",
            ),
            // Percent-encoded payload, not base64.
            ("data:image/jpeg,%FF%D8%FF%E0rest".to_owned(), "image/jpeg"),
        ];
        for (url, media_type) in cases {
            let got = inline_url(&client, url.clone(), &limits)
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(got.media_type, media_type, "{url}");
        }
        let got = inline_url(&client, "data:image/jpeg,%FF%D8%FF%E0rest", &limits)
            .await
            .unwrap();
        assert_eq!(&*got.base64, b64(b"\xFF\xD8\xFF\xE0rest"));

        for (bad, why) in [
            ("data:image/png;base64,!!!!", "invalid base64"),
            ("data:image/png;base64", "no ','"),
            ("data:text/plain,hello", "not an image"),
            ("data:,hello", "not PNG"),
            ("data:image/png;base64,", "empty"),
        ] {
            let error = inline_url(&client, bad, &limits).await.unwrap_err();
            assert_refused(&error, why);
            assert!(error.to_string().contains("data: URL"), "{error}");
        }
    }

    #[tokio::test]
    async fn a_url_image_is_fetched_with_its_media_type() {
        let server = image_server(png_template(), 1).await;
        let got = inline_url(&client(), img_url(&server), &MediaLimits::default())
            .await
            .unwrap();
        assert_eq!(got.media_type, "image/png");
        assert_eq!(&*got.base64, b64(PNG));
    }

    #[tokio::test]
    async fn a_missing_or_generic_type_is_sniffed_from_the_bytes() {
        let jpeg = b"\xFF\xD8\xFF\xE0\0\x10JFIF".to_vec();
        let server = image_server(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/octet-stream")
                .set_body_bytes(jpeg.clone()),
            1,
        )
        .await;
        let got = inline_url(&client(), img_url(&server), &MediaLimits::default())
            .await
            .unwrap();
        assert_eq!(got.media_type, "image/jpeg");

        let server = image_server(
            ResponseTemplate::new(200).set_body_bytes(b"RIFF\0\0\0\0WEBPVP8 ".to_vec()),
            1,
        )
        .await;
        let got = inline_url(&client(), img_url(&server), &MediaLimits::default())
            .await
            .unwrap();
        assert_eq!(got.media_type, "image/webp");

        assert_served_refused(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/octet-stream")
                .set_body_bytes(b"just text".to_vec()),
            MediaLimits::default(),
            "not PNG, JPEG, GIF or WebP",
        )
        .await;
    }

    #[tokio::test]
    async fn an_oversize_content_length_is_refused_before_the_body() {
        assert_served_refused(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/png")
                .set_body_bytes(vec![0u8; 4096]),
            small(1024, Duration::from_secs(10)),
            "4096 bytes, over the 1024-byte limit",
        )
        .await;
    }

    #[tokio::test]
    async fn an_endless_body_without_length_stops_at_the_cap() {
        let mut chunk = format!("{:x}\r\n", 4096).into_bytes();
        chunk.extend_from_slice(&[0x42; 4096]);
        chunk.extend_from_slice(b"\r\n");
        let limits = small(64 * 1024, Duration::from_secs(10));
        // A close-delimited body and a chunked one, neither with a length and
        // neither ending: only an early stop returns.
        for (head, body) in [
            (
                "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\nconnection: close\r\n\r\n",
                vec![0x42; 8192],
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ntransfer-encoding: chunked\r\n\r\n",
                chunk,
            ),
        ] {
            let started = Instant::now();
            let (addr, error) = raw_fetch_error(head, body, true, false, &limits).await;
            assert_refused(&error, &addr);
            assert_refused(&error, "over the 65536-byte limit");
            assert!(!error.is_timeout(), "{error:?}");
            assert!(started.elapsed() < Duration::from_secs(5));
        }
    }

    #[tokio::test]
    async fn a_non_image_content_type_is_refused() {
        assert_served_refused(
            ResponseTemplate::new(200)
                .set_body_raw("<html>login</html>", "text/html; charset=utf-8"),
            MediaLimits::default(),
            "\"text/html\", not an image",
        )
        .await;
    }

    #[tokio::test]
    async fn a_failed_status_names_the_status_and_host_but_not_the_query() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&server)
            .await;
        let image = url_image(format!("{}/img.png?token=SECRET-TOKEN-42", server.uri()));
        let request = request_with(&image);
        let error = inline_image(&client(), &request, &image, &MediaLimits::default())
            .await
            .unwrap_err();
        assert_refused(&error, &host_of_server(&server));
        assert_refused(&error, "HTTP 404");
        assert!(!format!("{error} {error:?}").contains("SECRET-TOKEN-42"));
        assert!(!format!("{error} {error:?}").contains("/img.png"));
        // The failure is remembered: the retry does not fetch again (expect 1).
        let again = inline_image(&client(), &request.clone(), &image, &MediaLimits::default())
            .await
            .unwrap_err();
        assert_eq!(again.to_string(), error.to_string());
    }

    #[tokio::test]
    async fn a_slow_server_times_out_promptly() {
        let server = image_server(png_template().set_delay(Duration::from_secs(10)), 1).await;
        let limits = small(1024 * 1024, Duration::from_millis(300));
        let started = Instant::now();
        let error = inline_url(&client(), img_url(&server), &limits)
            .await
            .unwrap_err();
        assert_prompt_timeout(started, &error);
        assert_refused(&error, &host_of_server(&server));
    }

    #[tokio::test]
    async fn a_body_that_stalls_after_the_head_times_out() {
        // The head arrives at once; the body never completes.
        let head = "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: 1000\r\n\r\n";
        let limits = small(1024 * 1024, Duration::from_millis(300));
        let started = Instant::now();
        let (addr, error) = raw_fetch_error(head, PNG.to_vec(), false, true, &limits).await;
        assert_prompt_timeout(started, &error);
        assert_refused(&error, &addr);
    }

    #[tokio::test]
    async fn the_provider_request_timeout_bounds_the_fetch_too() {
        let server = image_server(png_template().set_delay(Duration::from_secs(10)), 1).await;
        let client =
            HttpClient::new(HttpSettings::new("http://unused").timeout(Duration::from_millis(300)))
                .unwrap();
        let started = Instant::now();
        let error = inline_url(&client, img_url(&server), &MediaLimits::default())
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(error.is_timeout(), "{error:?}");
    }

    #[tokio::test]
    async fn other_schemes_are_refused() {
        let client = client();
        for (url, needle) in [
            ("file:///etc/passwd", "\"file\""),
            ("file://fileserver/etc/passwd", "fileserver"),
            ("ftp://example.com/a.png", "example.com"),
            ("not a url", "not a valid URL"),
        ] {
            let error = inline_url(&client, url, &MediaLimits::default())
                .await
                .unwrap_err();
            assert_refused(&error, needle);
            assert!(!error.to_string().contains("passwd"), "{error}");
        }
    }

    #[tokio::test]
    async fn clones_and_concurrent_attempts_fetch_once() {
        let (server, image, request) = png_request(1).await;
        let client = client();
        let limits = MediaLimits::default();
        let retry = request.clone();
        let (a, b) = tokio::join!(
            inline_image(&client, &request, &image, &limits),
            inline_image(&client, &retry, &image, &limits),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let c = inline_image(&client, &request.clone(), &image, &limits)
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&a.base64, &b.base64));
        assert!(Arc::ptr_eq(&a.base64, &c.base64));
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_stricter_limit_is_not_fooled_by_a_cached_fetch() {
        let (_server, image, request) = png_request(2).await;
        let client = client();
        inline_image(&client, &request, &image, &MediaLimits::default())
            .await
            .unwrap();
        let error = inline_image(
            &client,
            &request.clone(),
            &image,
            &small(8, Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
        assert_refused(&error, "over the 8-byte limit");
    }

    #[tokio::test]
    async fn the_image_host_never_sees_the_provider_credential_or_headers() {
        let server = image_server(png_template(), 1).await;
        let client = HttpClient::new(
            HttpSettings::new("http://unused")
                .api_key("sk-very-secret")
                .header("x-api-key", "sk-very-secret"),
        )
        .unwrap();
        inline_url(&client, img_url(&server), &MediaLimits::default())
            .await
            .unwrap();
        let received = server.received_requests().await.unwrap();
        assert_eq!(received.len(), 1);
        for (name, value) in &received[0].headers {
            assert!(
                !value.to_str().unwrap_or("").contains("sk-very-secret"),
                "{name}"
            );
        }
        assert!(!received[0].headers.contains_key("authorization"));
    }

    #[tokio::test]
    async fn redirects_are_followed_a_few_times_over_http_only() {
        let server = MockServer::start().await;
        Mock::given(path("/moved"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", "/img.png"))
            .mount(&server)
            .await;
        Mock::given(path("/img.png"))
            .respond_with(png_template())
            .mount(&server)
            .await;
        Mock::given(path("/loop"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", "/loop"))
            .mount(&server)
            .await;
        Mock::given(path("/to-file"))
            .respond_with(
                ResponseTemplate::new(302).insert_header("location", "file:///etc/passwd"),
            )
            .mount(&server)
            .await;
        let client = client();
        let limits = MediaLimits::default();
        let got = inline_url(&client, format!("{}/moved", server.uri()), &limits)
            .await
            .unwrap();
        assert_eq!(&*got.base64, b64(PNG));
        for bad in ["/loop", "/to-file"] {
            let error = inline_url(&client, format!("{}{bad}", server.uri()), &limits)
                .await
                .unwrap_err();
            assert_refused(&error, &host_of_server(&server));
        }
        let loops = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/loop")
            .count();
        assert_eq!(loops, 6, "the first request and five redirects");
    }

    #[test]
    fn sniffing_knows_the_four_formats() {
        assert_eq!(sniff(PNG), Some("image/png"));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xDB"), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF87a..."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8L"), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"<svg"), None);
        assert_eq!(sniff(b""), None);
    }
}
