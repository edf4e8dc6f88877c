//! Property tests for issue 12: arbitrary status lines, headers (`Retry-After`
//! included), chunkings and bytes, served over loopback to each of the four
//! protocols, through the public API. Whatever arrives: no panic, a typed
//! error or a valid answer, nothing larger than what was sent, and never the
//! credential in an error.
//!
//! CI runs 64 cases per protocol; set `PROPTEST_CASES` for more (the issue's
//! hand run used 10,000 per protocol, in release).
#![cfg(all(
    feature = "openai",
    feature = "anthropic",
    feature = "ollama",
    feature = "gemini"
))]

use std::sync::{Arc, Mutex, OnceLock};

use futures::StreamExt as _;
use majordomo::{Model, Registry, Request};
use proptest::prelude::*;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

use crate::hostile::{KEY, good_stream, registry_at};
use crate::support::http::read_request;

/// What the server sends for the next connection: pieces written one by one.
type Script = Arc<Mutex<Vec<Vec<u8>>>>;

/// One runtime and one loopback server for every case of every protocol.
struct Rig {
    runtime: tokio::runtime::Runtime,
    script: Script,
    registry: Registry,
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let script: Script = Arc::default();
        let served = script.clone();
        let addr = runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let pieces = served.lock().unwrap().clone();
                    tokio::spawn(async move {
                        let _ = socket.set_nodelay(true);
                        read_request(&mut socket).await;
                        for piece in pieces {
                            if socket.write_all(&piece).await.is_err() {
                                return;
                            }
                            let _ = socket.flush().await;
                            tokio::task::yield_now().await;
                        }
                        let _ = socket.shutdown().await;
                    });
                }
            });
            addr
        });
        // A short timeout bounds a case that waits for bytes never sent.
        let registry = registry_at(addr, "?timeout=10s");
        Rig {
            runtime,
            script,
            registry,
        }
    })
}

// ----- generators -----

fn status_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(vec![
            200u16, 200, 200, 201, 204, 206, 301, 400, 401, 402, 403, 404, 408, 409, 413, 422,
            429, 498, 500, 502, 503, 504, 529, 599, 999,
        ])
        .prop_map(|code| format!("HTTP/1.1 {code} X\r\n").into_bytes()),
        1 => "[ -~]{0,40}".prop_map(|s| format!("{s}\r\n").into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ]
}

/// Values servers have been seen to send, and worse.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "1e30",
            "99999999999999999999999",
            "1e300",
            "-1",
            "NaN",
            "inf",
            "0",
            "20",
            "1.5",
            "Wed, 21 Oct 2015 07:28:20 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "soon",
            "",
            "text/event-stream",
            "application/json",
            "application/x-ndjson",
            "chunked",
            "true",
            "false",
            "18446744073709551616",
            "4000000000",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,30}",
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "retry-after",
            "retry-after-ms",
            "content-type",
            "content-length",
            "x-should-retry",
            "transfer-encoding",
            "connection",
        ])
        .prop_map(str::to_owned),
        "[a-z-]{1,12}",
    ];
    prop::collection::vec((name, header_value()), 0..6).prop_map(|headers| {
        let mut out = Vec::new();
        for (name, value) in headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out
    })
}

/// Pieces of body text a protocol `p` server could send, good and bad.
fn body_piece(p: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let good = good_stream(p);
    let pieces: Vec<String> = good
        .split_inclusive(if p == "l" { "\n" } else { "\n\n" })
        .map(str::to_owned)
        .chain([
            format!("data: {{\"error\":{{\"message\":\"{KEY}\",\"details\":[{{\"retryDelay\":\"1e30s\"}}]}}}}\n\n"),
            format!("{{\"error\":{{\"message\":\"busy {KEY}\",\"type\":\"overloaded_error\"}}}}\n"),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}\n\n".to_owned(),
            format!("data: {{\"choices\":\"{KEY}\",\"candidates\":\"{KEY}\"}}\n\n"),
            format!("{{\"message\":{{\"content\":\"hi\"}},\"done\":true,\"eval_count\":\"{KEY}\"}}\n"),
            "data: {\"usageMetadata\":{\"promptTokenCount\":18446744073709551615,\"candidatesTokenCount\":18446744073709551615}}\n\n".to_owned(),
            "{\"prompt_eval_count\":18446744073709551615,\"eval_count\":18446744073709551615,\"done\":true}\n".to_owned(),
            ": keep-alive\n\n".to_owned(),
            "data: [DONE]\n\n".to_owned(),
            "error: {\"code\":500,\"message\":\"boom\"}\n\n".to_owned(),
            "\r\n".to_owned(),
            good.to_owned(),
        ])
        .collect();
    prop_oneof![
        3 => prop::sample::select(pieces).prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => "[ -~\\n]{0,64}".prop_map(String::into_bytes),
    ]
}

/// A whole answer: status line, headers, blank line, body, cut into pieces.
fn answer(p: &'static str) -> impl Strategy<Value = (Vec<Vec<u8>>, usize)> {
    (
        status_line(),
        headers(),
        prop::collection::vec(body_piece(p), 0..8),
        prop::collection::vec(1usize..64, 1..6),
        any::<bool>(),
    )
        .prop_map(|(status, headers, pieces, sizes, terminate)| {
            let mut bytes = status;
            bytes.extend_from_slice(&headers);
            if terminate {
                bytes.extend_from_slice(b"\r\n");
            }
            let head_len = bytes.len();
            for piece in pieces {
                bytes.extend_from_slice(&piece);
            }
            let body_len = bytes.len() - head_len;
            let mut chunks = Vec::new();
            let (mut at, mut i) = (0, 0);
            while at < bytes.len() {
                let end = (at + sizes[i % sizes.len()]).min(bytes.len());
                chunks.push(bytes[at..end].to_vec());
                at = end;
                i += 1;
            }
            (chunks, body_len)
        })
}

// ----- the property -----

/// Serves `chunks` to one `generate` and one `stream` of protocol `p`.
fn check(p: &str, chunks: Vec<Vec<u8>>, body_len: usize) -> Result<(), TestCaseError> {
    // The four properties run in parallel over one server: one case at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let rig = rig();
    *rig.script.lock().unwrap() = chunks;
    let model = rig.registry.provider(p).unwrap().model("m").unwrap();
    let outcomes = rig.runtime.block_on(async {
        let generated = model.generate(Request::new().user("hi")).await;
        let streamed = match model.stream(Request::new().user("hi")).await {
            Err(e) => Err(e),
            Ok(mut stream) => {
                // Read item by item, then past the end: no panic, ever.
                let mut items = Vec::new();
                while let Some(item) = stream.next().await {
                    items.push(item);
                }
                let extra = stream.next().await;
                assert!(extra.is_none());
                match items.into_iter().collect::<majordomo::Result<Vec<_>>>() {
                    Ok(events) => Ok(events
                        .into_iter()
                        .fold(majordomo::StreamAccumulator::new(), |mut acc, e| {
                            acc.push(e);
                            acc
                        })
                        .finish("p", "m")),
                    Err(e) => Err(e),
                }
            }
        };
        [generated, streamed]
    });
    for outcome in outcomes {
        match outcome {
            Ok(reply) => prop_assert!(
                reply.text().len() <= body_len,
                "{p}: an answer larger than the body"
            ),
            Err(err) => {
                let text = format!("{err} {err:?}");
                prop_assert!(!text.contains(KEY), "{p}: credential in {text}");
                prop_assert!(text.len() < 64 * 1024, "{p}: error of {} bytes", text.len());
                if let Some(after) = err.retry_after() {
                    prop_assert!(after <= majordomo::providers::http::MAX_SERVER_RETRY_AFTER);
                }
                let _ = err.class();
            }
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One property test a protocol: `name: "provider"`.
macro_rules! survives_any_answer {
    ($($name:ident: $p:literal),* $(,)?) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name((chunks, body_len) in answer($p)) {
                    check($p, chunks, body_len)?;
                }
            )*
        }
    };
}

survives_any_answer! {
    openai_survives_any_answer: "o",
    anthropic_survives_any_answer: "a",
    ollama_survives_any_answer: "l",
    gemini_survives_any_answer: "g",
}
