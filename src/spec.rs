//! The spec grammar (design §5): `"fast,openai/gpt-4o#high"` into elements,
//! and alias expansion of those elements into a de-duplicated target list.
//!
//! ```text
//! spec      := element ( "," element )*
//! element   := target [ "#" reasoning ]
//! target    := provider "/" model-id     split at the first "/"; the model id is verbatim
//!            | name                      a bare word: an alias, else a known model family
//! reasoning := "off" | "minimal" | "low" | "medium" | "high" | "max" | <token budget>
//! ```
//!
//! This module is pure: [`parse`] needs nothing but the text, and [`expand`]
//! needs only a way to look aliases up. The [`crate::Registry`] resolves the
//! resulting targets to providers.
//!
//! ```
//! use majordomo::spec::{self, ElementTarget};
//! let elements = spec::parse("fast, ollama/llama3.1:8b#high")?;
//! assert_eq!(elements[0].target(), &ElementTarget::Name("fast".into()));
//! assert_eq!(elements[1].to_string(), "ollama/llama3.1:8b#high");
//! assert_eq!(elements[1].position(), 6);
//! # Ok::<(), majordomo::spec::SpecError>(())
//! ```

use std::collections::HashSet;
use std::fmt;

use crate::{Error, ErrorKind, ReasoningLevel, Target};

/// Deepest alias nesting [`expand`] follows before giving up.
pub const MAX_ALIAS_DEPTH: usize = 32;

/// Most elements [`expand`] visits for one spec, so a small alias table that
/// fans out at every level cannot make expansion take forever.
pub const MAX_EXPANDED_ELEMENTS: usize = 4096;

// ===== errors =====

/// What kind of mistake a [`SpecError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecErrorKind {
    /// The spec is empty or only whitespace.
    EmptySpec,
    /// An element between commas is empty.
    EmptyElement,
    /// `/model` with nothing before the `/`.
    EmptyProvider,
    /// `provider/` with nothing after the `/`.
    EmptyModel,
    /// Whitespace or a control character inside an element.
    InvalidCharacter,
    /// The text after `#` is not a reasoning level.
    BadReasoning,
    /// A name given to `register_alias` is not a bare name.
    InvalidAliasName,
    /// A bare name that is neither an alias nor a known model family.
    UnknownName,
    /// Aliases that expand into themselves.
    AliasCycle,
    /// Alias nesting or expansion is beyond [`MAX_ALIAS_DEPTH`] or [`MAX_EXPANDED_ELEMENTS`].
    TooLarge,
    /// A provider that is neither registered nor defined by an `LLM_*` variable.
    UnknownProvider,
}

/// A spec that cannot be parsed or resolved: what is wrong and where.
///
/// The position is a byte offset into the spec that was parsed. For an error
/// found inside an alias's expansion it is the position of the element that
/// named the alias, and the message names the alias path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    kind: SpecErrorKind,
    position: usize,
    message: String,
}

impl SpecError {
    /// An error of `kind` at byte `position`.
    pub fn new(kind: SpecErrorKind, position: usize, message: impl Into<String>) -> Self {
        SpecError {
            kind,
            position,
            message: message.into(),
        }
    }

    /// What kind of mistake this is.
    pub fn kind(&self) -> SpecErrorKind {
        self.kind
    }

    /// Byte offset into the spec.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The message, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.position)
    }
}

impl std::error::Error for SpecError {}

impl From<SpecError> for Error {
    /// An [`ErrorKind::Spec`] error whose source is the [`SpecError`], so
    /// `err.source_as::<SpecError>()` gives the kind and position back.
    fn from(e: SpecError) -> Self {
        Error::new(ErrorKind::Spec, e.to_string()).with_source(e)
    }
}

// ===== elements =====

/// What an element names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElementTarget {
    /// `provider/model-id`.
    Target(Target),
    /// A bare name: an alias, else a model family.
    Name(String),
}

impl fmt::Display for ElementTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElementTarget::Target(t) => write!(f, "{t}"),
            ElementTarget::Name(n) => f.write_str(n),
        }
    }
}

/// One comma-separated element of a spec, with its byte position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    target: ElementTarget,
    reasoning: Option<ReasoningLevel>,
    position: usize,
}

impl Element {
    /// The target or bare name.
    pub fn target(&self) -> &ElementTarget {
        &self.target
    }

    /// The `#level` suffix, if any.
    pub fn reasoning(&self) -> Option<ReasoningLevel> {
        self.reasoning
    }

    /// Byte offset of the element's first non-blank character in the spec.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.target)?;
        if let Some(level) = self.reasoning {
            write!(f, "#{level}")?;
        }
        Ok(())
    }
}

/// A fully expanded chain element: a target and its effective reasoning level.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SpecTarget {
    /// `provider/model-id`.
    pub target: Target,
    /// The element's own suffix, else the suffix of the alias it came from.
    pub reasoning: Option<ReasoningLevel>,
}

impl SpecTarget {
    /// A target with an optional reasoning level.
    pub fn new(target: Target, reasoning: Option<ReasoningLevel>) -> Self {
        SpecTarget { target, reasoning }
    }
}

impl fmt::Display for SpecTarget {
    /// `provider/model-id` or `provider/model-id#level`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.target)?;
        if let Some(level) = self.reasoning {
            write!(f, "#{level}")?;
        }
        Ok(())
    }
}

// ===== parsing =====

/// Parses `spec` into its elements. Names are not resolved here.
///
/// # Errors
/// A [`SpecError`] with the byte position of the first mistake: an empty
/// spec or element, `/model` or `provider/`, whitespace inside an element, or
/// a bad reasoning level.
pub fn parse(spec: &str) -> Result<Vec<Element>, SpecError> {
    if spec.trim().is_empty() {
        return Err(SpecError::new(
            SpecErrorKind::EmptySpec,
            0,
            "empty spec: expected provider/model-id or a name, separated by commas",
        ));
    }
    let mut elements = Vec::new();
    let mut start = 0;
    for raw in spec.split(',') {
        elements.push(parse_element(raw, start)?);
        start += raw.len() + 1;
    }
    Ok(elements)
}

/// Parses one element; `offset` is where `raw` starts in the spec.
fn parse_element(raw: &str, offset: usize) -> Result<Element, SpecError> {
    let leading = raw.len() - raw.trim_start().len();
    let text = raw.trim();
    let position = offset + leading;
    if text.is_empty() {
        return Err(SpecError::new(
            SpecErrorKind::EmptyElement,
            position,
            "empty element: two commas in a row, or a comma at an end",
        ));
    }
    if let Some((i, c)) = text
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        return Err(SpecError::new(
            SpecErrorKind::InvalidCharacter,
            position + i,
            format!("{c:?} inside element {text:?}: elements contain no whitespace"),
        ));
    }
    let (head, reasoning) = match text.split_once('#') {
        None => (text, None),
        Some((head, level)) => {
            let level_at = position + head.len() + 1;
            match level.parse::<ReasoningLevel>() {
                Ok(level) => (head, Some(level)),
                Err(_) => {
                    return Err(SpecError::new(
                        SpecErrorKind::BadReasoning,
                        level_at,
                        format!(
                            "bad reasoning level {level:?} in {text:?}: expected off, minimal, low, medium, high, max or a positive token budget"
                        ),
                    ));
                }
            }
        }
    };
    let target = match head.split_once('/') {
        None if head.is_empty() => {
            return Err(SpecError::new(
                SpecErrorKind::EmptyElement,
                position,
                format!("element {text:?} has a reasoning level but no target"),
            ));
        }
        None => ElementTarget::Name(head.to_owned()),
        Some(("", _)) => {
            return Err(SpecError::new(
                SpecErrorKind::EmptyProvider,
                position,
                format!("empty provider in {text:?}: expected provider/model-id"),
            ));
        }
        Some((provider, "")) => {
            return Err(SpecError::new(
                SpecErrorKind::EmptyModel,
                position + provider.len() + 1,
                format!("empty model id in {text:?}: expected provider/model-id"),
            ));
        }
        Some((provider, model)) => ElementTarget::Target(Target::new_unchecked(provider, model)),
    };
    Ok(Element {
        target,
        reasoning,
        position,
    })
}

/// Checks that `name` can be registered as an alias: a non-empty bare word
/// with no `/`, `,`, `#`, whitespace or control characters.
///
/// # Errors
/// A [`SpecError`] of kind [`SpecErrorKind::InvalidAliasName`] naming the
/// offending character and its byte position in `name`.
pub fn validate_alias_name(name: &str) -> Result<(), SpecError> {
    if name.is_empty() {
        return Err(SpecError::new(
            SpecErrorKind::InvalidAliasName,
            0,
            "empty alias name",
        ));
    }
    match name
        .char_indices()
        .find(|&(_, c)| matches!(c, '/' | ',' | '#') || c.is_whitespace() || c.is_control())
    {
        None => Ok(()),
        Some((i, c)) => Err(SpecError::new(
            SpecErrorKind::InvalidAliasName,
            i,
            format!(
                "alias name {name:?} contains {c:?}: an alias is a bare name without '/', ',', '#' or whitespace"
            ),
        )),
    }
}

/// The built-in provider that serves a bare model name by its family:
/// `gpt-*`, `o1*`, `o3*`, `o4*` → `openai`; `claude-*` → `anthropic`;
/// `gemini-*` → `gemini`.
///
/// ```
/// assert_eq!(majordomo::spec::infer_family("o3-mini"), Some("openai"));
/// assert_eq!(majordomo::spec::infer_family("llama3"), None);
/// ```
pub fn infer_family(name: &str) -> Option<&'static str> {
    const FAMILIES: &[(&str, &str)] = &[
        ("gpt-", "openai"),
        ("o1", "openai"),
        ("o3", "openai"),
        ("o4", "openai"),
        ("claude-", "anthropic"),
        ("gemini-", "gemini"),
    ];
    FAMILIES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|&(_, provider)| provider)
}

// ===== expansion =====

/// Expands bare names in `elements`: aliases inline and recursively, then
/// model families; then removes later duplicates of the same target and level.
///
/// `alias` returns the parsed elements of a registered alias. An alias's
/// suffix applies to every target it expands to that has none of its own.
///
/// # Errors
/// A [`SpecError`] for an unknown bare name, an alias cycle (naming the path,
/// `a -> b -> a`), or an expansion beyond [`MAX_ALIAS_DEPTH`] /
/// [`MAX_EXPANDED_ELEMENTS`].
pub fn expand<'a, F>(elements: &'a [Element], alias: F) -> Result<Vec<SpecTarget>, SpecError>
where
    F: Fn(&str) -> Option<&'a [Element]>,
{
    Ok(expand_positioned(elements, alias)?
        .into_iter()
        .map(|(target, _)| target)
        .collect())
}

/// [`expand`], with each target's top-level element position, so later
/// errors (an unknown provider) can point into the spec.
pub(crate) fn expand_positioned<'a, F>(
    elements: &'a [Element],
    alias: F,
) -> Result<Vec<(SpecTarget, usize)>, SpecError>
where
    F: Fn(&str) -> Option<&'a [Element]>,
{
    let mut expander = Expander {
        alias,
        path: Vec::new(),
        visited: 0,
        out: Vec::new(),
        seen: HashSet::new(),
    };
    for element in elements {
        expander.element(element, None, element.position)?;
    }
    Ok(expander.out)
}

struct Expander<'a, F> {
    alias: F,
    /// Alias names being expanded, outermost first, for cycle detection.
    path: Vec<&'a str>,
    visited: usize,
    out: Vec<(SpecTarget, usize)>,
    seen: HashSet<SpecTarget>,
}

impl<'a, F> Expander<'a, F>
where
    F: Fn(&str) -> Option<&'a [Element]>,
{
    /// `inherited` is the suffix of the enclosing alias element; `position` is
    /// where the top-level element starts, for error reporting.
    fn element(
        &mut self,
        element: &'a Element,
        inherited: Option<ReasoningLevel>,
        position: usize,
    ) -> Result<(), SpecError> {
        self.visited += 1;
        if self.visited > MAX_EXPANDED_ELEMENTS {
            return Err(SpecError::new(
                SpecErrorKind::TooLarge,
                position,
                format!("spec expands to more than {MAX_EXPANDED_ELEMENTS} elements"),
            ));
        }
        let reasoning = element.reasoning.or(inherited);
        let target = match &element.target {
            ElementTarget::Target(t) => t.clone(),
            ElementTarget::Name(name) => match (self.alias)(name) {
                Some(body) => return self.alias_body(name, body, reasoning, position),
                None => match infer_family(name) {
                    Some(provider) => Target::new_unchecked(provider, name),
                    None => return Err(self.unknown_name(name, position)),
                },
            },
        };
        let item = SpecTarget { target, reasoning };
        if self.seen.insert(item.clone()) {
            self.out.push((item, position));
        }
        Ok(())
    }

    fn alias_body(
        &mut self,
        name: &'a str,
        body: &'a [Element],
        reasoning: Option<ReasoningLevel>,
        position: usize,
    ) -> Result<(), SpecError> {
        if let Some(start) = self.path.iter().position(|&p| p == name) {
            let mut cycle: Vec<&str> = self.path[start..].to_vec();
            cycle.push(name);
            return Err(SpecError::new(
                SpecErrorKind::AliasCycle,
                position,
                format!("alias cycle: {}", cycle.join(" -> ")),
            ));
        }
        if self.path.len() >= MAX_ALIAS_DEPTH {
            return Err(SpecError::new(
                SpecErrorKind::TooLarge,
                position,
                format!(
                    "aliases nested deeper than {MAX_ALIAS_DEPTH}: {} -> {name}",
                    self.path.join(" -> ")
                ),
            ));
        }
        self.path.push(name);
        for inner in body {
            self.element(inner, reasoning, position)?;
        }
        self.path.pop();
        Ok(())
    }

    fn unknown_name(&self, name: &str, position: usize) -> SpecError {
        let inside = if self.path.is_empty() {
            String::new()
        } else {
            format!(" (in alias {})", self.path.join(" -> "))
        };
        SpecError::new(
            SpecErrorKind::UnknownName,
            position,
            format!(
                "unknown name {name:?}{inside}: not a registered alias, and not a known model family (gpt-*, o1*, o3*, o4*, claude-*, gemini-*); use provider/model-id"
            ),
        )
    }
}
