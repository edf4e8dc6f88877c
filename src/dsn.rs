//! [`Dsn`]: a provider defined by one string, usually an `LLM_<NAME>` variable
//! (design §4).
//!
//! `scheme[+http]://[credential@]host[:port][/base-path][?options]`
//!
//! The scheme names the wire protocol; `+http` forces plain HTTP (`+https`
//! forces TLS). The credential is percent-decoded and kept in a [`Secret`];
//! nothing here ever prints it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::{Error, Secret};

/// Schemes whose default transport is plain HTTP rather than HTTPS.
const PLAIN_HTTP_SCHEMES: &[&str] = &["ollama"];

/// Default ports for schemes whose servers do not listen on 80/443.
const DEFAULT_PORTS: &[(&str, u16)] = &[("ollama", 11434)];

/// What is wrong with a DSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DsnErrorKind {
    /// Not of the form `scheme://…`, or not a URL at all.
    Malformed,
    /// No factory is registered for the scheme.
    UnknownScheme,
    /// The `+suffix` after the scheme is not `http` or `https`.
    UnknownTransport,
    /// The host is missing or invalid.
    BadHost,
    /// The port is not a number from 1 to 65535.
    BadPort,
    /// The DSN has a `#fragment`, which means nothing here.
    Fragment,
    /// An option the scheme does not know.
    UnknownOption,
    /// The same option given twice.
    DuplicateOption,
    /// An option whose value cannot be used (e.g. `timeout=soon`).
    BadOptionValue,
    /// The credential holds a `/`, `?` or `#` that is not percent-encoded, so
    /// the DSN cannot be split where the user meant. The error names no part
    /// of the credential.
    CredentialNotEncoded,
}

/// A DSN that cannot be used. Names the variable it came from and the
/// offending part; never contains the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnError {
    kind: DsnErrorKind,
    variable: String,
    message: String,
}

impl DsnError {
    /// An error of `kind` in the DSN read from `variable`.
    ///
    /// The message must not contain the credential.
    pub fn new(
        kind: DsnErrorKind,
        variable: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DsnError {
            kind,
            variable: variable.into(),
            message: message.into(),
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> DsnErrorKind {
        self.kind
    }

    /// The variable the DSN came from (`LLM_M1`), or `DSN` when parsed directly.
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The message, without the variable.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DsnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for DsnError {}

impl From<DsnError> for Error {
    /// A configuration error whose source is the [`DsnError`].
    fn from(e: DsnError) -> Self {
        Error::config(e.to_string()).with_source(e)
    }
}

/// A parsed DSN.
///
/// ```
/// use majordomo::Dsn;
/// let dsn = Dsn::from_env("LLM_LOCAL", "openai+http://sk%2Dkey@127.0.0.1:8080/v1?timeout=90s")?;
/// assert_eq!(dsn.scheme(), "openai");
/// assert!(dsn.plain_http());
/// assert_eq!(dsn.base_url(), "http://127.0.0.1:8080/v1");
/// assert_eq!(dsn.credential().map(|c| c.expose()), Some("sk-key"));
/// assert_eq!(dsn.duration_option("timeout")?, Some(std::time::Duration::from_secs(90)));
/// assert!(!format!("{dsn:?} {dsn}").contains("sk-key"));
/// # Ok::<(), majordomo::DsnError>(())
/// ```
// `Secret`'s `Debug` shows no credential, so the derived one is safe.
#[derive(Clone, Debug)]
pub struct Dsn {
    variable: String,
    scheme: String,
    plain_http: bool,
    host: String,
    port: Option<u16>,
    base_path: String,
    credential: Option<Secret>,
    options: BTreeMap<String, String>,
}

impl Dsn {
    /// Parses a DSN given directly; errors name it `DSN`.
    ///
    /// # Errors
    /// See [`Dsn::from_env`].
    pub fn parse(value: &str) -> Result<Self, DsnError> {
        Self::from_env("DSN", value)
    }

    /// Parses the DSN held by environment variable `variable`; errors name the
    /// variable.
    ///
    /// # Errors
    /// A [`DsnError`] for a missing `scheme://`, an unknown `+transport`, a
    /// missing or invalid host, a bad port, a fragment, or a malformed or
    /// repeated option. Unknown schemes and options are checked by the
    /// registry and the scheme's factory, which know what exists.
    pub fn from_env(variable: &str, value: &str) -> Result<Self, DsnError> {
        let err = |kind, message: String| DsnError::new(kind, variable, message);
        let Some((scheme_part, rest)) = value.split_once("://") else {
            return Err(err(
                DsnErrorKind::Malformed,
                "expected scheme://[credential@]host[:port][/base-path][?options]".into(),
            ));
        };
        let (scheme, transport) = match scheme_part.split_once('+') {
            Some((scheme, transport)) => (scheme, Some(transport)),
            None => (scheme_part, None),
        };
        if !is_valid_scheme(scheme) {
            return Err(err(
                DsnErrorKind::Malformed,
                format!(
                    "invalid scheme {scheme:?}: expected a lower-case name such as openai, anthropic, ollama, gemini or foreman"
                ),
            ));
        }
        let plain_http = match transport {
            None => PLAIN_HTTP_SCHEMES.contains(&scheme),
            Some("http") => true,
            Some("https") => false,
            Some(other) => {
                return Err(err(
                    DsnErrorKind::UnknownTransport,
                    format!(
                        "unknown transport {other:?} after {scheme:?}: expected +http or +https"
                    ),
                ));
            }
        };
        // `sk-ab/cd@host` would parse as host `sk-ab` with path `/cd@host`:
        // part of the key would become a host name looked up in DNS, or an
        // option name echoed in an error. An `@` after the authority ends
        // means the credential was cut there.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if !rest[..authority_end].contains('@') && rest[authority_end..].contains('@') {
            return Err(err(
                DsnErrorKind::CredentialNotEncoded,
                "the credential holds an unescaped '/', '?' or '#' (or the path an '@'): \
                 percent-encode it ('/' as %2F, '?' as %3F, '#' as %23, '@' as %40)"
                    .into(),
            ));
        }
        // Parse the rest as a real http(s) URL so host, port and path get the
        // URL standard's validation rather than a hand-rolled one.
        let web = if plain_http { "http" } else { "https" };
        let url = Url::parse(&format!("{web}://{rest}")).map_err(|e| {
            let kind = match e {
                url::ParseError::InvalidPort => DsnErrorKind::BadPort,
                url::ParseError::EmptyHost
                | url::ParseError::IdnaError
                | url::ParseError::InvalidIpv4Address
                | url::ParseError::InvalidIpv6Address
                | url::ParseError::InvalidDomainCharacter => DsnErrorKind::BadHost,
                _ => DsnErrorKind::Malformed,
            };
            // `url`'s messages are fixed texts that never echo the input.
            err(kind, format!("{e}"))
        })?;
        if url.fragment().is_some() {
            return Err(err(
                DsnErrorKind::Fragment,
                "a DSN has no #fragment (percent-encode '#' as %23 in a credential)".into(),
            ));
        }
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.to_owned(),
            _ => return Err(err(DsnErrorKind::BadHost, "missing host".into())),
        };
        if url.port() == Some(0) {
            return Err(err(
                DsnErrorKind::BadPort,
                "port 0 is not a port a server listens on".into(),
            ));
        }
        let credential = credential_of(&url).map_err(|_| {
            err(
                DsnErrorKind::Malformed,
                "the credential is not valid UTF-8 after percent-decoding".into(),
            )
        })?;
        let mut options = BTreeMap::new();
        for (key, value) in url.query_pairs() {
            if key.is_empty() {
                return Err(err(
                    DsnErrorKind::BadOptionValue,
                    "an option with an empty name".into(),
                ));
            }
            if options
                .insert(key.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(err(
                    DsnErrorKind::DuplicateOption,
                    format!("option {key:?} given twice"),
                ));
            }
        }
        Ok(Dsn {
            variable: variable.to_owned(),
            scheme: scheme.to_owned(),
            plain_http,
            host,
            // `url` hides a port equal to the transport's default (`:443`);
            // keep it, since it overrides a scheme's own default port.
            port: url
                .port()
                .or_else(|| has_explicit_port(rest).then(|| url.port_or_known_default())?),
            base_path: url.path().trim_end_matches('/').to_owned(),
            credential,
            options,
        })
    }

    /// The variable the DSN came from, or `DSN`.
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The wire protocol, without any `+http`: `openai`, `ollama`, …
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// True when the server is reached over plain HTTP: `+http`, or a scheme
    /// that defaults to it (`ollama`) without `+https`.
    pub fn plain_http(&self) -> bool {
        self.plain_http
    }

    /// The host, as written (IPv6 addresses in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port written in the DSN, if any (the transport's default port
    /// written explicitly, such as `:443` for HTTPS, reads as none).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The written port, else the scheme's default port (`11434` for
    /// `ollama`), else none: the transport's default (80 or 443).
    pub fn port_or_default(&self) -> Option<u16> {
        self.port.or_else(|| {
            DEFAULT_PORTS
                .iter()
                .find(|(s, _)| *s == self.scheme)
                .map(|&(_, p)| p)
        })
    }

    /// The path after the host, without a trailing `/`: `""` or `/v1`.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// `http[s]://host[:port][/base-path]`, without credential or options.
    pub fn base_url(&self) -> String {
        let web = if self.plain_http { "http" } else { "https" };
        match self.port_or_default() {
            Some(port) => format!("{web}://{}:{port}{}", self.host, self.base_path),
            None => format!("{web}://{}{}", self.host, self.base_path),
        }
    }

    /// The percent-decoded credential (`user:password` when both are given).
    pub fn credential(&self) -> Option<&Secret> {
        self.credential.as_ref()
    }

    /// Every option, by name.
    pub fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }

    /// One option's value.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    /// An option read as a duration: `500ms`, `30s`, `5m`, `1h`, or a bare
    /// number of seconds.
    ///
    /// # Errors
    /// [`DsnErrorKind::BadOptionValue`] naming the variable and option.
    pub fn duration_option(&self, name: &str) -> Result<Option<Duration>, DsnError> {
        let Some(value) = self.option(name) else {
            return Ok(None);
        };
        parse_duration(value).map(Some).ok_or_else(|| {
            DsnError::new(
                DsnErrorKind::BadOptionValue,
                &self.variable,
                format!("option {name}={value:?} is not a duration such as 500ms, 30s, 5m or 1h"),
            )
        })
    }

    /// Fails on the first option not in `known`, naming the variable, the
    /// option and what the scheme accepts. Scheme factories call this first.
    ///
    /// # Errors
    /// [`DsnErrorKind::UnknownOption`].
    pub fn reject_unknown_options(&self, known: &[&str]) -> Result<(), DsnError> {
        match self.options.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(option) => Err(DsnError::new(
                DsnErrorKind::UnknownOption,
                &self.variable,
                format!(
                    "unknown option {option:?} for scheme {:?}; known options: {}",
                    self.scheme,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
        }
    }
}

impl fmt::Display for Dsn {
    /// The DSN with its credential shown as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        let default_plain = PLAIN_HTTP_SCHEMES.contains(&self.scheme.as_str());
        match (self.plain_http, default_plain) {
            (true, false) => f.write_str("+http")?,
            (false, true) => f.write_str("+https")?,
            _ => {}
        }
        f.write_str("://")?;
        if self.credential.is_some() {
            f.write_str("***@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        f.write_str(&self.base_path)?;
        for (i, (k, v)) in self.options.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{k}={v}")?;
        }
        Ok(())
    }
}

/// A scheme name DSNs can carry: lower-case letters, digits, `-` and `.`,
/// starting with a letter.
pub(crate) fn is_valid_scheme(scheme: &str) -> bool {
    scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// The percent-decoded `user[:password]` of `url`, if any.
fn credential_of(url: &Url) -> Result<Option<Secret>, std::str::Utf8Error> {
    let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|c| c.into_owned());
    let user = decode(url.username())?;
    let password = url.password().map(decode).transpose()?;
    Ok(match (user.is_empty(), password) {
        (true, None) => None,
        (_, Some(p)) => Some(Secret::new(format!("{user}:{p}"))),
        (false, None) => Some(Secret::new(user)),
    })
}

/// True when the authority part of `rest` (after `scheme://`) ends in `:port`.
fn has_explicit_port(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    match host_port.rsplit_once(':') {
        // `[::1]` alone: the last ':' is inside the brackets.
        Some((_, port)) => !port.is_empty() && !port.contains(']'),
        None => false,
    }
}

/// `500ms`, `30s`, `5m`, `1h` or bare seconds.
fn parse_duration(value: &str) -> Option<Duration> {
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n: u64 = value[..digits].parse().ok()?;
    match &value[digits..] {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}
