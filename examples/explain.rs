//! Shows what a spec expands to, one chain position per line, before you run
//! it. A group prints as its members joined by `|`, each with its `*weight`
//! when it is not 1.
//!
//! ```sh
//! cargo run --example explain -- "fast,gpt-4o" --alias fast=openai/gpt-4o-mini,anthropic/claude-haiku-4-5
//! cargo run --example explain -- "openai/gpt-4o*3|azure/gpt-4o,claude-sonnet-4-5"
//! ```
//!
//! Uses `Registry::new()`, so `LLM_*` DSNs in the environment are honoured.
//! On any error it prints the error on stderr and exits with status 1.

use std::io::Write;
use std::process::ExitCode;

use majordomo::Registry;

const USAGE: &str = "usage: explain [--alias NAME=SPEC]... SPEC";

/// The parsed command line: aliases in order, and the one spec.
struct Args {
    aliases: Vec<(String, String)>,
    spec: String,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut aliases = Vec::new();
    let mut spec = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let definition = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--alias" => args
                .next()
                .ok_or_else(|| "--alias needs NAME=SPEC".to_owned())?,
            _ => match arg.strip_prefix("--alias=") {
                Some(definition) => definition.to_owned(),
                None if arg.starts_with("--") => return Err(format!("unknown flag {arg:?}")),
                None => {
                    if let Some(first) = &spec {
                        return Err(format!("one spec only: got {first:?} and {arg:?}"));
                    }
                    spec = Some(arg);
                    continue;
                }
            },
        };
        let (name, body) = definition
            .split_once('=')
            .ok_or_else(|| format!("--alias {definition:?}: expected NAME=SPEC"))?;
        aliases.push((name.to_owned(), body.to_owned()));
    }
    let spec = spec.ok_or_else(|| "missing SPEC".to_owned())?;
    Ok(Some(Args { aliases, spec }))
}

fn run() -> Result<(), String> {
    let Some(args) = parse_args(std::env::args().skip(1))? else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{USAGE}").map_err(|e| e.to_string())?;
        return Ok(());
    };
    let registry = Registry::new();
    for (name, spec) in &args.aliases {
        registry
            .register_alias(name, spec)
            .map_err(|e| e.to_string())?;
    }
    let chain = registry.parse(&args.spec).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    for members in chain.elements() {
        let line: Vec<String> = members.iter().map(ToString::to_string).collect();
        writeln!(out, "{}", line.join("|")).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("explain: {message}");
            if message.starts_with("missing SPEC")
                || message.starts_with("unknown flag")
                || message.starts_with("one spec only")
            {
                eprintln!("{USAGE}");
            }
            ExitCode::FAILURE
        }
    }
}
