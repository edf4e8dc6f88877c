//! [`OllamaConfig`]: where the server is, how to reach it, and the protocol
//! options; and the reading of `OLLAMA_HOST` the way Ollama's own clients
//! read it.

use crate::providers::http::ProviderConfig;
use crate::providers::http::config::protocol_options;

/// The address of a local Ollama server: `http://127.0.0.1:11434`.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";

/// Ollama's port when `OLLAMA_HOST` names none and no scheme.
const DEFAULT_PORT: u16 = 11434;

/// The Ollama protocol's own options: none yet (every image is sent as
/// bytes, so [`ProviderConfig::media_limits`] always applies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OllamaOptions {}

protocol_options!(OllamaOptions, "ollama");

/// The configuration of an [`super::OllamaProvider`]: the shared
/// [`ProviderConfig`] vocabulary for Ollama's native API.
///
/// The base URL is the server (scheme, host, port and any base path;
/// `/api/chat` is appended), taken as given; for `OLLAMA_HOST`-style
/// addresses use [`ProviderConfig::from_host`]. A key, when set, is sent as
/// `Authorization: Bearer` (ollama.com and authenticating proxies; a local
/// server needs none). Ollama cannot fetch URL images itself, so every image
/// is sent as base64 bytes under the media limits. [`ProviderConfig::new`]
/// is a local server at [`DEFAULT_BASE_URL`], named `ollama`.
///
/// ```
/// use majordomo::providers::ollama::{DEFAULT_BASE_URL, OllamaConfig};
///
/// // A local server at the default address.
/// assert_eq!(OllamaConfig::new().http_settings().base_url(), DEFAULT_BASE_URL);
///
/// // `OLLAMA_HOST`-style addresses, read as Ollama's clients read them:
/// let gpu = OllamaConfig::from_host("gpu-box.lan").name("gpu");
/// assert_eq!(gpu.http_settings().base_url(), "http://gpu-box.lan:11434");
/// let cloud = OllamaConfig::from_host("https://ollama.com").api_key("key-123");
/// assert_eq!(cloud.http_settings().base_url(), "https://ollama.com:443");
/// assert!(!format!("{cloud:?}").contains("key-123"));
/// ```
pub type OllamaConfig = ProviderConfig<OllamaOptions>;

/// Ollama's addresses.
impl ProviderConfig<OllamaOptions> {
    /// A provider named `ollama` at an `OLLAMA_HOST`-style address: `host`,
    /// `host:port`, `http://host[:port]` or `https://host[:port]`, with an
    /// optional path. Without a scheme the server is plain HTTP on port
    /// 11434; with `http://` or `https://` and no port, the scheme's own port
    /// (80 or 443), as in Ollama's official clients. Empty means
    /// [`DEFAULT_BASE_URL`].
    pub fn from_host(host: &str) -> Self {
        Self::new().base_url(parse_host(host))
    }
}

/// The base URL an `OLLAMA_HOST` value means, by the rules of Ollama's
/// official clients (the Python client's `_parse_host`, the Go client's
/// `envconfig.Host`): surrounding spaces and quotes are dropped; no scheme
/// means `http` and port 11434; `http://` / `https://` without a port mean
/// 80 / 443; an empty host means `127.0.0.1`; a port that is not a number is
/// replaced by the default; a path is kept without its slashes.
pub(crate) fn parse_host(value: &str) -> String {
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    let (scheme, rest, default_port) = match value.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => ("http", rest, 80),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => ("https", rest, 443),
        Some((scheme, rest)) => (scheme, rest, DEFAULT_PORT),
        None => ("http", value, DEFAULT_PORT),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.trim_matches('/');
    // `user:password@` is not part of the address.
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = split_host_port(authority);
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let port = port
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(default_port);
    let mut url = if host.contains(':') && !host.starts_with('[') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
    };
    if !path.is_empty() {
        url.push('/');
        url.push_str(path);
    }
    url
}

/// `host[:port]`, `[v6][:port]` or a bare IPv6 address.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        if let Some(end) = authority.find(']') {
            let port = authority[end + 1..].strip_prefix(':');
            return (&authority[..=end], port.filter(|p| !p.is_empty()));
        }
        return (authority, None);
    }
    if authority.parse::<std::net::Ipv6Addr>().is_ok() {
        return (authority, None);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, (!port.is_empty()).then_some(port)),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::http::config::default_capabilities;
    use crate::providers::http::{HttpSettings, MediaLimits};
    use crate::{Capabilities, Secret};
    use std::time::Duration;

    #[test]
    fn reads_ollama_host_like_the_official_clients() {
        let cases = [
            ("", "http://127.0.0.1:11434"),
            ("  ", "http://127.0.0.1:11434"),
            ("1.2.3.4", "http://1.2.3.4:11434"),
            (":56789", "http://127.0.0.1:56789"),
            ("1.2.3.4:56789", "http://1.2.3.4:56789"),
            ("http://1.2.3.4", "http://1.2.3.4:80"),
            ("https://1.2.3.4", "https://1.2.3.4:443"),
            ("https://1.2.3.4:56789", "https://1.2.3.4:56789"),
            ("example.com", "http://example.com:11434"),
            ("example.com:56789", "http://example.com:56789"),
            ("http://example.com", "http://example.com:80"),
            ("https://example.com", "https://example.com:443"),
            ("https://example.com:56789", "https://example.com:56789"),
            ("example.com/", "http://example.com:11434"),
            ("example.com:56789/", "http://example.com:56789"),
            ("example.com/path", "http://example.com:11434/path"),
            ("example.com:56789/path", "http://example.com:56789/path"),
            (
                "https://example.com:56789/path/",
                "https://example.com:56789/path",
            ),
            (
                "[0001:002:003:0004::1]",
                "http://[0001:002:003:0004::1]:11434",
            ),
            (
                "[0001:002:003:0004::1]:56789",
                "http://[0001:002:003:0004::1]:56789",
            ),
            ("http://[::1]", "http://[::1]:80"),
            ("https://[::1]:56789/path", "https://[::1]:56789/path"),
            ("::1", "http://[::1]:11434"),
            ("\"0.0.0.0\"", "http://0.0.0.0:11434"),
            ("gpu-box.lan:notaport", "http://gpu-box.lan:11434"),
            ("HTTPS://ollama.com", "https://ollama.com:443"),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_host(input), expected, "OLLAMA_HOST={input:?}");
        }
    }

    #[test]
    fn config_builder_sets_every_option() {
        let limits = MediaLimits {
            max_bytes: 1024,
            ..MediaLimits::default()
        };
        let capabilities = Capabilities::unknown().streaming(true).tools(true);
        let config = OllamaConfig::default()
            .name("local")
            .api_key("secret-token")
            .connect_timeout(Duration::from_millis(300))
            .timeout(Duration::from_secs(5))
            .header("X-Team", "research")
            .media_limits(limits)
            .capabilities(capabilities.clone());
        // What the setters put in the HTTP settings, kept by `base_url`.
        let server_as_set = |settings: &HttpSettings| {
            let key = settings.credential().map(Secret::expose);
            assert_eq!(key, Some("secret-token"));
            assert_eq!(settings.request_timeout, Duration::from_secs(5));
            assert_eq!(settings.connect_timeout, Duration::from_millis(300));
        };
        assert_eq!(config.provider_name(), "local");
        assert_eq!(config.http_settings().base_url(), DEFAULT_BASE_URL);
        server_as_set(config.http_settings());
        assert_eq!(config.media_limits.max_bytes, 1024);
        assert_eq!(config.capabilities, capabilities);
        assert!(!format!("{config:?}").contains("secret-token"));

        // `base_url` keeps the credential, timeouts and headers.
        let moved = config.clone().base_url("http://gpu-box.lan:11434/");
        assert_eq!(moved.http_settings().base_url(), "http://gpu-box.lan:11434");
        server_as_set(moved.http_settings());
        assert!(format!("{:?}", moved.http_settings()).contains("X-Team"));

        // `http` replaces all of them, and keeps the rest.
        let replaced = config.http(HttpSettings::new("http://other:1"));
        assert_eq!(replaced.http_settings().base_url(), "http://other:1");
        assert!(replaced.http_settings().credential().is_none());
        assert_eq!(replaced.provider_name(), "local");
        assert_eq!(replaced.media_limits.max_bytes, 1024);
        assert_eq!(replaced.capabilities, capabilities);
    }

    #[test]
    fn new_and_default_are_a_local_server() {
        for config in [OllamaConfig::new(), OllamaConfig::default()] {
            assert_eq!(config.provider_name(), "ollama");
            assert_eq!(config.http_settings().base_url(), DEFAULT_BASE_URL);
            assert!(config.http_settings().credential().is_none());
            assert_eq!(config.capabilities, default_capabilities());
        }
        assert_eq!(
            OllamaConfig::from_host("gpu-box.lan")
                .http_settings()
                .base_url(),
            "http://gpu-box.lan:11434"
        );
    }
}
