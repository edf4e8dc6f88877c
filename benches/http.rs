//! What the HTTP layer costs, on loopback (`cargo bench --bench http`).
//!
//! An in-process HTTP/1.1 server on 127.0.0.1 answers every request with the
//! same chat completion (keep-alive). Compared, per call, as seen by the
//! caller (one full request/response round trip over loopback):
//! - `raw_reqwest`: a hand-written minimal `reqwest` POST plus a JSON decode;
//! - `openai_generate`: the `openai` provider's `generate` (body building,
//!   headers, response mapping);
//! - `chain2_generate`: a two-target chain whose first target is healthy.
//!
//! Plus the SSE decoder alone, per event, on a large recorded stream cut into
//! 256 B and 64 KiB chunks (time inside the process, no I/O).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use majordomo::providers::http::SseDecoder;
use majordomo::{Model, Registry, Request};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const COMPLETION: &str = include_str!("../tests/fixtures/openai/chat_response_text.json");
const STREAM: &[u8] = include_bytes!("../tests/fixtures/openai/chat_stream_text.sse");

/// Serves `body` as `application/json` to every request, keeping connections open.
async fn serve(body: &'static str) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let response: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            socket.set_nodelay(true).ok();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(8192);
                let mut chunk = [0u8; 8192];
                loop {
                    // One request: headers, then content-length bytes of body.
                    let (head_end, length) = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (end + 4, length);
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    while buf.len() < head_end + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    if socket.write_all(response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The hand-written baseline: a minimal `reqwest` POST and a JSON decode.
async fn raw_call(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let body = serde_json::json!({
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hello"}],
    });
    let bytes = client
        .post(url)
        .bearer_auth("sk-bench")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn http_calls(c: &mut Criterion) {
    // One thread for client and server: no cross-thread wake-ups, so the
    // figures vary less between runs and the comparison is of our code.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(serve(COMPLETION));
    let base = format!("http://{addr}/v1");

    let client = reqwest::Client::new();
    let url = format!("{base}/chat/completions");
    let mut group = c.benchmark_group("http_loopback");
    group.bench_function("raw_reqwest", |b| {
        b.to_async(&rt).iter(|| async {
            let value = raw_call(&client, &url).await;
            assert!(value["choices"][0]["message"]["content"].is_string());
        })
    });

    let registry = Registry::builder()
        .env_vars([
            ("LLM_BENCH", format!("openai+http://sk-bench@{addr}/v1")),
            ("LLM_BENCH2", format!("openai+http://sk-bench@{addr}/v1")),
        ])
        .build();
    let model = registry.provider("bench").unwrap().model("gpt-4o").unwrap();
    group.bench_function("openai_generate", |b| {
        b.to_async(&rt).iter(|| async {
            let reply = model.generate(Request::new().user("Hello")).await.unwrap();
            assert!(!reply.text().is_empty());
        })
    });
    let chain = registry.parse("bench/gpt-4o,bench2/gpt-4o").unwrap();
    group.bench_function("chain2_generate", |b| {
        b.to_async(&rt).iter(|| async {
            let reply = chain.generate(Request::new().user("Hello")).await.unwrap();
            assert!(!reply.text().is_empty());
        })
    });
    group.finish();

    // Loopback latency drifts between runs on a shared machine by more than
    // the differences we care about, so the three calls are also timed
    // interleaved (raw, provider, chain in turn), each median over the same
    // stretch of time. Printed only when benchmarking (not under `cargo test`).
    if std::env::args().any(|a| a == "--bench") {
        rt.block_on(async {
            let rounds = 3000;
            let mut times = [Vec::new(), Vec::new(), Vec::new()];
            for round in 0..rounds {
                for k in 0..3 {
                    let which = (round + k) % 3;
                    let start = std::time::Instant::now();
                    match which {
                        0 => {
                            std::hint::black_box(raw_call(&client, &url).await);
                        }
                        1 => {
                            std::hint::black_box(
                                model.generate(Request::new().user("Hello")).await.unwrap(),
                            );
                        }
                        _ => {
                            std::hint::black_box(
                                chain.generate(Request::new().user("Hello")).await.unwrap(),
                            );
                        }
                    }
                    times[which].push(start.elapsed().as_nanos() as f64 / 1000.0);
                }
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let [raw, provider, chain2] = times.each_mut().map(median);
            eprintln!(
                "interleaved medians over {rounds} rounds: raw_reqwest {raw:.1} µs, \
                 openai_generate {provider:.1} µs ({:.3}x raw), \
                 chain2_generate {chain2:.1} µs ({:+.1} µs over the provider)",
                provider / raw,
                chain2 - provider
            );
        });
    }
}

fn sse_decode(c: &mut Criterion) {
    // A large recorded stream: the fixture's events repeated.
    let stream: Vec<u8> = STREAM.repeat(200);
    let mut probe = SseDecoder::new();
    probe.feed(&stream);
    let mut events = 0u64;
    while probe.next_event().is_some() {
        events += 1;
    }
    let mut group = c.benchmark_group("sse_decode");
    group.throughput(Throughput::Elements(events));
    for chunk in [256usize, 65_536] {
        group.bench_function(format!("chunk_{chunk}"), |b| {
            b.iter(|| {
                let mut decoder = SseDecoder::new();
                for piece in stream.chunks(chunk) {
                    decoder.feed(piece);
                    while let Some(event) = decoder.next_event() {
                        std::hint::black_box(event);
                    }
                }
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = http_calls, sse_decode
}
criterion_main!(benches);
