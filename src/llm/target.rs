//! [`Target`]: the `provider/model` pair the router addresses, health tracks and errors name.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `provider/model-id` pair.
///
/// The model id is kept verbatim: everything after the *first* `/` belongs to it,
/// so `openrouter/meta-llama/llama-3-70b` names model `meta-llama/llama-3-70b` of
/// provider `openrouter`. The canonical string is stored once, so cloning a target
/// is a reference-count bump and using it as a health key allocates nothing.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    key: Arc<str>,
    split: usize,
}

impl Target {
    pub(crate) fn new_unchecked(provider: &str, model: &str) -> Self {
        let mut key = String::with_capacity(provider.len() + 1 + model.len());
        key.push_str(provider);
        key.push('/');
        key.push_str(model);
        Target {
            key: Arc::from(key),
            split: provider.len(),
        }
    }

    /// The provider half, e.g. `openai`.
    pub fn provider(&self) -> &str {
        &self.key[..self.split]
    }

    /// The model id half, verbatim, e.g. `gpt-4o-mini` or `meta-llama/llama-3-70b`.
    pub fn model(&self) -> &str {
        &self.key[self.split + 1..]
    }

    /// The canonical `provider/model` string; this is the key health state is stored under.
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({:?})", &*self.key)
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.key)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_slash_and_keeps_the_rest_verbatim() {
        let t: Target = "openrouter/meta-llama/llama-3-70b:free@v1.2"
            .parse()
            .unwrap();
        assert_eq!(t.provider(), "openrouter");
        assert_eq!(t.model(), "meta-llama/llama-3-70b:free@v1.2");
        assert_eq!(t.to_string(), "openrouter/meta-llama/llama-3-70b:free@v1.2");
    }

    #[test]
    fn rejects_malformed_targets() {
        assert!("noslash".parse::<Target>().is_err());
        assert!("/model".parse::<Target>().is_err());
        assert!("provider/".parse::<Target>().is_err());
    }
}
