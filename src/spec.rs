//! The spec grammar (design §5): `"fast,openai/gpt-4o#high"` into elements,
//! and alias expansion of those elements into a de-duplicated target list.
//!
//! ```text
//! spec      := element ( "," element )*
//! element   := member ( "|" member )*     a group of equivalent targets ("|" binds tighter than ",")
//! member    := target [ "*" weight ] [ "#" reasoning ]
//! target    := provider "/" model-id     split at the first "/"; the model id is verbatim
//!            | name                      a bare word: an alias, else a known model family
//! weight    := 1..=1000                  a member's share of its group's calls (default 1)
//! reasoning := "off" | "minimal" | "low" | "medium" | "high" | "max" | <token budget>
//! ```
//!
//! Whitespace around elements and members is ignored. Inside a group an alias may name a single target or another group, whose
//! members join the group; an alias naming a chain (`a,b`) is an error there,
//! as is a weight on an alias that names a group (ADR 0018).
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

/// Most members one group may have after expansion.
pub const MAX_GROUP_MEMBERS: usize = 64;

/// Largest `*N` member weight.
pub const MAX_WEIGHT: u32 = 1000;

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
    /// A group member between `|`s is empty (`a||b`, `a|`).
    EmptyMember,
    /// The text after `*` is not a weight from 1 to [`MAX_WEIGHT`].
    BadWeight,
    /// A weighted alias inside a group names a group: a group cannot be a
    /// weighted member of another group; weight its members instead.
    GroupInGroup,
    /// An alias inside a group names a chain (`a,b`): a group holds targets only.
    ChainAliasInGroup,
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

/// One member of a group (or the only member of a plain element): a target
/// or name, with its optional weight and reasoning level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    target: ElementTarget,
    weight: Option<u32>,
    reasoning: Option<ReasoningLevel>,
    position: usize,
}

impl Member {
    /// The target or bare name.
    pub fn target(&self) -> &ElementTarget {
        &self.target
    }

    /// The `*N` weight, if written.
    pub fn weight(&self) -> Option<u32> {
        self.weight
    }

    /// The `#level` suffix, if any.
    pub fn reasoning(&self) -> Option<ReasoningLevel> {
        self.reasoning
    }

    /// Byte offset of the member's first character in the spec.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl fmt::Display for Member {
    /// `target[*weight][#level]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.target)?;
        if let Some(weight) = self.weight {
            write!(f, "*{weight}")?;
        }
        if let Some(level) = self.reasoning {
            write!(f, "#{level}")?;
        }
        Ok(())
    }
}

/// One comma-separated element of a spec, with its byte position: a single
/// member, or a group of members separated by `|`.
///
/// ```
/// use majordomo::spec;
/// let elements = spec::parse("openai/gpt-4o*3|azure/gpt-4o#high,claude-sonnet-4-5")?;
/// assert!(elements[0].is_group());
/// assert_eq!(elements[0].members()[0].weight(), Some(3));
/// assert_eq!(elements[0].to_string(), "openai/gpt-4o*3|azure/gpt-4o#high");
/// # Ok::<(), majordomo::spec::SpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    members: Vec<Member>,
    position: usize,
}

impl Element {
    /// The target or bare name of the first member (the only one unless
    /// [`Element::is_group`]).
    pub fn target(&self) -> &ElementTarget {
        &self.first().target
    }

    /// The `#level` suffix of the first member, if any.
    pub fn reasoning(&self) -> Option<ReasoningLevel> {
        self.first().reasoning
    }

    /// The members, in the order written: one for a plain element.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// True when the element is a group of two or more members.
    pub fn is_group(&self) -> bool {
        self.members.len() > 1
    }

    /// Byte offset of the element's first non-blank character in the spec.
    pub fn position(&self) -> usize {
        self.position
    }

    fn first(&self) -> &Member {
        // `parse` never builds an element without a member.
        &self.members[0]
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            write!(f, "{member}")?;
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
    let mut members = Vec::new();
    let mut at = position;
    for part in text.split('|') {
        let leading = part.len() - part.trim_start().len();
        let member = part.trim();
        if member.is_empty() {
            return Err(SpecError::new(
                SpecErrorKind::EmptyMember,
                at + leading,
                format!("empty group member in {text:?}: two '|' in a row, or a '|' at an end"),
            ));
        }
        if let Some((i, c)) = member
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || c.is_control())
        {
            return Err(SpecError::new(
                SpecErrorKind::InvalidCharacter,
                at + leading + i,
                format!("{c:?} inside element {text:?}: targets contain no whitespace"),
            ));
        }
        members.push(parse_member(member, at + leading)?);
        at += part.len() + 1;
    }
    if members.len() > MAX_GROUP_MEMBERS {
        return Err(SpecError::new(
            SpecErrorKind::TooLarge,
            position,
            format!("a group has more than {MAX_GROUP_MEMBERS} members"),
        ));
    }
    Ok(Element { members, position })
}

/// Parses one non-empty member without whitespace; `position` is where it starts.
fn parse_member(text: &str, position: usize) -> Result<Member, SpecError> {
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
    let (head, weight) = match head.rsplit_once('*') {
        None => (head, None),
        Some((target, digits)) => {
            let weight_at = position + target.len() + 1;
            match digits.parse::<u32>() {
                Ok(n)
                    if (1..=MAX_WEIGHT).contains(&n)
                        && digits.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    (target, Some(n))
                }
                _ => {
                    return Err(SpecError::new(
                        SpecErrorKind::BadWeight,
                        weight_at,
                        format!(
                            "bad weight {digits:?} in {text:?}: expected a whole number from 1 to {MAX_WEIGHT}"
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
                format!("element {text:?} has a reasoning level or weight but no target"),
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
    Ok(Member {
        target,
        weight,
        reasoning,
        position,
    })
}

/// Checks that `name` can be registered as an alias: a non-empty bare word
/// with no `/`, `,`, `#`, `|`, `*`, whitespace or control characters.
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
    match name.char_indices().find(|&(_, c)| {
        matches!(c, '/' | ',' | '#' | '|' | '*') || c.is_whitespace() || c.is_control()
    }) {
        None => Ok(()),
        Some((i, c)) => Err(SpecError::new(
            SpecErrorKind::InvalidAliasName,
            i,
            format!(
                "alias name {name:?} contains {c:?}: an alias is a bare name without '/', ',', '#', '|', '*' or whitespace"
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
/// Groups are flattened into their members, in order.
///
/// `alias` returns the parsed elements of a registered alias. An alias's
/// suffix applies to every target it expands to that has none of its own.
///
/// # Errors
/// A [`SpecError`] for an unknown bare name, an alias cycle (naming the path,
/// `a -> b -> a`), a chain alias or weighted group alias inside a group, or
/// an expansion beyond [`MAX_ALIAS_DEPTH`] / [`MAX_EXPANDED_ELEMENTS`] /
/// [`MAX_GROUP_MEMBERS`].
pub fn expand<'a, F>(elements: &'a [Element], alias: F) -> Result<Vec<SpecTarget>, SpecError>
where
    F: Fn(&str) -> Option<&'a [Element]>,
{
    Ok(expand_grouped(elements, alias)?
        .into_iter()
        .flat_map(|element| element.members.into_iter().map(|(target, _)| target))
        .collect())
}

/// One expanded chain element: its members with their weights (one member
/// unless it is a group), and the position of the top-level element it came from.
#[derive(Debug)]
pub(crate) struct Expanded {
    pub(crate) members: Vec<(SpecTarget, u32)>,
    pub(crate) position: usize,
}

/// [`expand`], keeping groups and each element's top-level position, so later
/// errors (an unknown provider) can point into the spec.
pub(crate) fn expand_grouped<'a, F>(
    elements: &'a [Element],
    alias: F,
) -> Result<Vec<Expanded>, SpecError>
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
    out: Vec<Expanded>,
    seen: HashSet<SpecTarget>,
}

impl<'a, F> Expander<'a, F>
where
    F: Fn(&str) -> Option<&'a [Element]>,
{
    fn count(&mut self, position: usize) -> Result<(), SpecError> {
        self.visited += 1;
        if self.visited > MAX_EXPANDED_ELEMENTS {
            return Err(SpecError::new(
                SpecErrorKind::TooLarge,
                position,
                format!("spec expands to more than {MAX_EXPANDED_ELEMENTS} elements"),
            ));
        }
        Ok(())
    }

    /// `inherited` is the suffix of the enclosing alias element; `position` is
    /// where the top-level element starts, for error reporting.
    fn element(
        &mut self,
        element: &'a Element,
        inherited: Option<ReasoningLevel>,
        position: usize,
    ) -> Result<(), SpecError> {
        if element.is_group() {
            let mut members = Vec::with_capacity(element.members.len());
            for member in &element.members {
                self.member(member, inherited, None, position, &mut members)?;
            }
            return self.push(members, position);
        }
        self.count(position)?;
        let member = element.first();
        let reasoning = member.reasoning.or(inherited);
        let target = match &member.target {
            ElementTarget::Target(t) => t.clone(),
            ElementTarget::Name(name) => match (self.alias)(name) {
                Some(body) => {
                    self.enter(name, position)?;
                    for inner in body {
                        self.element(inner, reasoning, position)?;
                    }
                    self.path.pop();
                    return Ok(());
                }
                None => self.family(name, position)?,
            },
        };
        let weight = member.weight.unwrap_or(1);
        self.push(vec![(SpecTarget { target, reasoning }, weight)], position)
    }

    /// Adds one group member (expanding an alias that names a target or a
    /// group) to `into`. `outer_weight` is the weight written where an alias
    /// naming this member was used; it wins over the member's own.
    fn member(
        &mut self,
        member: &'a Member,
        inherited: Option<ReasoningLevel>,
        outer_weight: Option<u32>,
        position: usize,
        into: &mut Vec<(SpecTarget, u32)>,
    ) -> Result<(), SpecError> {
        self.count(position)?;
        let reasoning = member.reasoning.or(inherited);
        let weight = outer_weight.or(member.weight);
        // Inside an alias's body, positions point at the element that named it.
        let at = if self.path.is_empty() {
            member.position
        } else {
            position
        };
        let target = match &member.target {
            ElementTarget::Target(t) => t.clone(),
            ElementTarget::Name(name) => match (self.alias)(name) {
                Some(body) => {
                    let [inner] = body else {
                        return Err(SpecError::new(
                            SpecErrorKind::ChainAliasInGroup,
                            at,
                            format!(
                                "alias {name:?} names a chain of {} elements and cannot be a group member; a group holds equivalent targets",
                                body.len()
                            ),
                        ));
                    };
                    if inner.is_group() && weight.is_some() {
                        return Err(SpecError::new(
                            SpecErrorKind::GroupInGroup,
                            at,
                            format!(
                                "alias {name:?} names the group {inner} and cannot carry a weight inside a group; weight its members instead"
                            ),
                        ));
                    }
                    self.enter(name, position)?;
                    for inner_member in &inner.members {
                        self.member(inner_member, reasoning, weight, position, into)?;
                    }
                    self.path.pop();
                    return Ok(());
                }
                None => self.family(name, position)?,
            },
        };
        into.push((SpecTarget { target, reasoning }, weight.unwrap_or(1)));
        Ok(())
    }

    /// Adds an element of `members`, minus targets already seen; nothing
    /// when every member was seen before.
    fn push(&mut self, members: Vec<(SpecTarget, u32)>, position: usize) -> Result<(), SpecError> {
        let mut kept = Vec::with_capacity(members.len());
        for (target, weight) in members {
            if self.seen.insert(target.clone()) {
                kept.push((target, weight));
            }
        }
        if kept.len() > MAX_GROUP_MEMBERS {
            return Err(SpecError::new(
                SpecErrorKind::TooLarge,
                position,
                format!("a group expands to more than {MAX_GROUP_MEMBERS} members"),
            ));
        }
        if !kept.is_empty() {
            self.out.push(Expanded {
                members: kept,
                position,
            });
        }
        Ok(())
    }

    fn family(&self, name: &str, position: usize) -> Result<Target, SpecError> {
        match infer_family(name) {
            Some(provider) => Ok(Target::new_unchecked(provider, name)),
            None => Err(self.unknown_name(name, position)),
        }
    }

    /// Enters alias `name`, checking for cycles and depth.
    fn enter(&mut self, name: &'a str, position: usize) -> Result<(), SpecError> {
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
