//! How long `Registry::parse` takes for typical specs (design §5): a plain
//! two-target chain, an alias chain with suffixes, and a deep alias.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use majordomo::Registry;

fn registry() -> Registry {
    let registry = Registry::builder()
        .env_vars([("LLM_LOCAL", "ollama://127.0.0.1")])
        .build();
    let aliases = [
        ("fast", "openai/gpt-4o-mini,anthropic/claude-haiku-4-5"),
        ("smart", "fast#high,openai/o3,local/llama3.1:8b"),
        ("d0", "gpt-4o"),
        ("d1", "d0"),
        ("d2", "d1"),
        ("d3", "d2"),
        ("d4", "d3"),
        ("d5", "d4"),
        ("d6", "d5"),
        ("d7", "d6"),
    ];
    for (name, spec) in aliases {
        if let Err(e) = registry.register_alias(name, spec) {
            panic!("alias {name}: {e}");
        }
    }
    registry
}

fn bench_parse(c: &mut Criterion) {
    let registry = registry();
    for (label, spec) in [
        (
            "two targets",
            "openai/gpt-4o-mini,anthropic/claude-haiku-4-5",
        ),
        ("alias chain", "smart,fast,gpt-4o#low"),
        ("alias depth 8", "d7"),
    ] {
        c.bench_function(&format!("parse/{label}"), |b| {
            b.iter(|| registry.parse(black_box(spec)))
        });
    }
    c.bench_function("parse/grammar only", |b| {
        b.iter(|| majordomo::spec::parse(black_box("smart,fast,gpt-4o#low,ollama/llama3.1:8b")))
    });
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
