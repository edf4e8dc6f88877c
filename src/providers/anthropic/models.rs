//! What a Claude model accepts, read from its id. The Messages API's request
//! rules differ by model generation (Anthropic's model migration guide):
//!
//! - Claude 3.x: `thinking: {type: "enabled", budget_tokens}` (3.7 only), and
//!   `temperature` with `top_p` together.
//! - Claude 4.0, 4.1, 4.5 (Opus, Sonnet, Haiku): budget thinking; `temperature`
//!   *or* `top_p` (both together is a 400 on every Claude 4+ model).
//! - Claude 4.6 (Opus, Sonnet): adaptive thinking (`{type: "adaptive"}` with
//!   `output_config.effort`); budget thinking deprecated; one of `temperature`
//!   and `top_p`.
//! - Opus 4.7, 4.8, 5, Sonnet 5, Fable, Mythos and later: adaptive thinking only
//!   (budget thinking is a 400) and no sampling parameters (any of
//!   `temperature`, `top_p`, `top_k` is a 400). Opus 5 and Sonnet 5 think
//!   when `thinking` is left out, so turning it off takes `{type: "disabled"}`;
//!   Fable and Mythos always think (`disabled` is a 400 there).
//!
//! An id that names no Claude model (a gateway alias, another vendor's model
//! behind an Anthropic-style endpoint) is sent what the request asks for, as
//! budget thinking and sampling as given.

/// How extended thinking is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ThinkingStyle {
    /// `{"type": "enabled", "budget_tokens": N}`.
    Budget,
    /// `{"type": "adaptive"}` and `output_config.effort`.
    Adaptive,
}

/// Which sampling parameters the model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sampling {
    /// `temperature` and `top_p`, together if asked.
    Any,
    /// `temperature` or `top_p`, not both.
    OneOf,
    /// None at all.
    Unsupported,
}

/// What a model accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ModelTraits {
    pub(super) thinking: ThinkingStyle,
    pub(super) sampling: Sampling,
    /// Reasoning turned off is sent as `thinking: {type: "disabled"}` (the
    /// model may think by default); otherwise `thinking` is left out.
    pub(super) send_disabled: bool,
}

const PASS_THROUGH: ModelTraits = ModelTraits {
    thinking: ThinkingStyle::Budget,
    sampling: Sampling::Any,
    send_disabled: false,
};

// Each generation differs from the one before in what is named here.
const CLAUDE_4: ModelTraits = ModelTraits {
    sampling: Sampling::OneOf,
    ..PASS_THROUGH
};

const CLAUDE_4_6: ModelTraits = ModelTraits {
    thinking: ThinkingStyle::Adaptive,
    ..CLAUDE_4
};

const NEWEST: ModelTraits = ModelTraits {
    sampling: Sampling::Unsupported,
    send_disabled: true,
    ..CLAUDE_4_6
};

const ALWAYS_THINKING: ModelTraits = ModelTraits {
    send_disabled: false,
    ..NEWEST
};

/// The traits of `model`: a first-party id (`claude-sonnet-4-5-20250929`), a
/// Bedrock or Vertex one (`anthropic.claude-opus-4-1-20250805-v1:0`,
/// `claude-sonnet-4@20250514`) or a gateway's (`anthropic/claude-3.7-sonnet`).
pub(super) fn traits(model: &str) -> ModelTraits {
    let id = model.to_ascii_lowercase();
    let id = id.rsplit('/').next().unwrap_or(&id);
    let Some(at) = id.find("claude") else {
        return PASS_THROUGH;
    };
    if id.contains("fable") || id.contains("mythos") {
        return ALWAYS_THINKING;
    }
    let tokens: Vec<&str> = id[at + "claude".len()..]
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    // The version: the first short number (dates are 8 digits), then the
    // number right after it, if any.
    let small = |t: &str| t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit());
    let Some(pos) = tokens.iter().position(|t| small(t)) else {
        // A Claude name without a version number: a newer naming scheme.
        return NEWEST;
    };
    let major: u32 = tokens[pos].parse().unwrap_or(0);
    let minor: Option<u32> = tokens
        .get(pos + 1)
        .filter(|t| small(t))
        .and_then(|t| t.parse().ok());
    match (major, minor) {
        (0..=3, _) => PASS_THROUGH,
        (4, None | Some(0..=5)) => CLAUDE_4,
        (4, Some(6)) => CLAUDE_4_6,
        _ => NEWEST,
    }
}

/// `output_config.effort` for a thinking budget (the reasoning level's, or an
/// explicit one): up to 2048 `low`, 8192 `medium`, 16384 `high`, else `max`.
pub(super) fn effort(budget: u32) -> &'static str {
    match budget {
        0..=2048 => "low",
        2049..=8192 => "medium",
        8193..=16384 => "high",
        _ => "max",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_map_to_their_generation() {
        let budget_one_of = CLAUDE_4;
        let adaptive_one_of = CLAUDE_4_6;
        for (id, expected) in [
            ("claude-3-7-sonnet-20250219", PASS_THROUGH),
            ("claude-3-5-haiku-latest", PASS_THROUGH),
            ("anthropic/claude-3.7-sonnet:thinking", PASS_THROUGH),
            ("claude-2.1", PASS_THROUGH),
            ("claude-opus-4-20250514", budget_one_of),
            ("claude-sonnet-4-0", budget_one_of),
            ("claude-sonnet-4@20250514", budget_one_of),
            ("claude-opus-4-1", budget_one_of),
            ("anthropic.claude-opus-4-1-20250805-v1:0", budget_one_of),
            ("claude-sonnet-4-5-20250929", budget_one_of),
            ("claude-haiku-4-5", budget_one_of),
            ("anthropic/claude-sonnet-4.5", budget_one_of),
            ("claude-opus-4-6", adaptive_one_of),
            ("claude-sonnet-4-6", adaptive_one_of),
            ("claude-opus-4-7", NEWEST),
            ("claude-opus-4-8", NEWEST),
            ("claude-opus-5", NEWEST),
            ("claude-sonnet-5", NEWEST),
            ("claude-fable-5-1", ALWAYS_THINKING),
            ("claude-mythos-preview", ALWAYS_THINKING),
            ("claude-mythos-5", ALWAYS_THINKING),
            ("CLAUDE-X", NEWEST),
            ("llama3.2", PASS_THROUGH),
            ("my-gateway-alias", PASS_THROUGH),
        ] {
            assert_eq!(traits(id), expected, "{id}");
        }
    }

    #[test]
    fn budgets_map_to_effort_levels() {
        assert_eq!(effort(1024), "low");
        assert_eq!(effort(2048), "low");
        assert_eq!(effort(8192), "medium");
        assert_eq!(effort(16384), "high");
        assert_eq!(effort(32768), "max");
    }
}
