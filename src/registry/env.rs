//! Where the registry reads `LLM_*` variables: the process environment, a
//! fixed map (tests), or a caller's lookup function; and how provider names
//! map to variable names.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::scheme::EnvLookup;

/// The prefix of provider-defining variables.
const PREFIX: &str = "LLM_";

#[derive(Clone)]
pub(crate) enum EnvSource {
    /// `std::env`, read at each use.
    Process,
    /// A fixed set of variables, for both the eager scan and lazy lookups.
    Fixed(Arc<HashMap<String, String>>),
    /// A lookup function only: it cannot be listed, so the eager scan sees nothing.
    Lookup(EnvLookup),
}

impl EnvSource {
    pub(crate) fn lookup(&self) -> EnvLookup {
        match self {
            EnvSource::Process => Arc::new(|key: &str| std::env::var(key).ok()),
            EnvSource::Fixed(map) => {
                let map = Arc::clone(map);
                Arc::new(move |key: &str| map.get(key).cloned())
            }
            EnvSource::Lookup(f) => Arc::clone(f),
        }
    }

    /// Every `LLM_<NAME>` variable with a non-empty value, as (variable, value).
    pub(crate) fn llm_vars(&self) -> Vec<(String, String)> {
        let all: Vec<(String, String)> = match self {
            // Variables that are not UTF-8 cannot be DSNs; skip them rather
            // than panic as `std::env::vars` would.
            EnvSource::Process => std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            EnvSource::Fixed(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            EnvSource::Lookup(_) => Vec::new(),
        };
        let mut vars: Vec<_> = all
            .into_iter()
            .filter(|(k, v)| provider_for_variable(k).is_some() && !v.is_empty())
            .collect();
        vars.sort();
        vars
    }
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvSource::Process => f.write_str("Process"),
            EnvSource::Fixed(map) => write!(f, "Fixed({} variables)", map.len()),
            EnvSource::Lookup(_) => f.write_str("Lookup(..)"),
        }
    }
}

/// The variable that defines provider `name`: `m5` → `LLM_M5`, `my-prov` → `LLM_MY_PROV`.
pub(crate) fn variable_for(name: &str) -> String {
    let mut var = String::with_capacity(PREFIX.len() + name.len());
    var.push_str(PREFIX);
    var.extend(name.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    var
}

/// The provider name the eager scan gives `variable`: `LLM_MY_PROV` → `my-prov`.
/// `None` unless the variable is `LLM_` followed by upper-case letters, digits
/// and `_` (the form [`variable_for`] produces), starting with a letter or digit.
pub(crate) fn provider_for_variable(variable: &str) -> Option<String> {
    let rest = variable.strip_prefix(PREFIX)?;
    let ok = rest
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    let starts_well = rest
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !ok || !starts_well {
        return None;
    }
    Some(
        rest.chars()
            .map(|c| {
                if c == '_' {
                    '-'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_variables_map_both_ways() {
        assert_eq!(variable_for("m5"), "LLM_M5");
        assert_eq!(variable_for("my-prov"), "LLM_MY_PROV");
        assert_eq!(
            provider_for_variable("LLM_MY_PROV").as_deref(),
            Some("my-prov")
        );
        assert_eq!(provider_for_variable("LLM_M1").as_deref(), Some("m1"));
        for bad in [
            "LLM_",
            "LLM__X",
            "LLM_lower",
            "LLM_A.B",
            "OPENAI_API_KEY",
            "LLMX",
        ] {
            assert_eq!(provider_for_variable(bad), None, "{bad}");
        }
    }
}
