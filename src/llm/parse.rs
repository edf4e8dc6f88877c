//! The fallible constructors of the contract's data types: [`Target::new`]
//! and the `FromStr` impls of [`Target`] and [`ReasoningLevel`]. They return
//! the crate's [`Error`], which itself names targets; keeping them here lets
//! the data types sit below the error type, so `llm/` has no module cycle.

use std::str::FromStr;

use super::error::{Error, Result};
use super::request::ReasoningLevel;
use super::target::Target;

impl Target {
    /// Builds a target from its two halves.
    ///
    /// The provider name must be non-empty and must not contain `/`; the model id
    /// must be non-empty. Use [`Target::from_str`] to parse `provider/model`.
    ///
    /// # Errors
    /// Returns an [`crate::Error`] of kind [`crate::ErrorKind::Config`] naming what is wrong.
    pub fn new(provider: &str, model: &str) -> Result<Self> {
        if provider.is_empty() || provider.contains('/') {
            return Err(Error::config(format!(
                "invalid provider name {provider:?} in target: it must be non-empty and contain no '/'"
            )));
        }
        if model.is_empty() {
            return Err(Error::config(format!(
                "empty model id in target for provider {provider:?}"
            )));
        }
        Ok(Self::new_unchecked(provider, model))
    }
}

impl FromStr for Target {
    type Err = Error;

    /// Parses `provider/model-id`, splitting at the first `/`.
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once('/') {
            Some((provider, model)) => Target::new(provider, model),
            None => Err(Error::config(format!(
                "target {s:?} is not of the form provider/model-id"
            ))),
        }
    }
}

impl FromStr for ReasoningLevel {
    type Err = Error;

    /// Parses `off|minimal|low|medium|high|max` or a positive token budget.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "off" => ReasoningLevel::Off,
            "minimal" => ReasoningLevel::Minimal,
            "low" => ReasoningLevel::Low,
            "medium" => ReasoningLevel::Medium,
            "high" => ReasoningLevel::High,
            "max" => ReasoningLevel::Max,
            _ => match s.parse::<u32>() {
                Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => {
                    ReasoningLevel::Budget(n)
                }
                _ => {
                    return Err(Error::config(format!(
                        "invalid reasoning level {s:?}: expected off, minimal, low, medium, high, max or a positive token budget"
                    )));
                }
            },
        })
    }
}
