//! Usage records: one [`UsageRecord`] per chain call, succeeded or failed, handed
//! to the host's [`UsageSink`], with a cost when a [`PriceTable`] prices the model
//! that answered (design §9).
//!
//! A sink never breaks or delays a call: records travel through a bounded queue
//! to a task of their own (a full queue drops the record with a warning), and a
//! panicking sink is contained. No sink installed costs one branch per call.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::sync::LockUnpoisoned as _;
use crate::{Attempt, AttemptOutcome, CallContext, Error, ErrorClass, Result, Usage};

/// Whether a chain call answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UsageOutcome {
    /// The call answered (for a stream: it ended cleanly).
    Ok,
    /// The call failed, or a stream broke or was dropped before its end.
    Error,
}

/// What one chain call used: serialised with exactly these field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UsageRecord {
    /// The registry's name of the provider that answered, or was tried last
    /// (`m1` for a provider from `LLM_M1`).
    pub provider: String,
    /// The model id that answered, or was tried last.
    pub model: String,
    /// The wire protocol of the answer (`openai`, `anthropic`, `ollama`,
    /// `gemini`, `azure`), when the answering model speaks one.
    pub protocol: Option<String>,
    /// The spec the chain was parsed from (`fast,gpt-4o`), or its canonical form.
    pub spec: String,
    /// The request's caller id.
    pub caller_id: Option<String>,
    /// The request's run id.
    pub run_id: Option<String>,
    /// The request's labels.
    pub labels: BTreeMap<String, String>,
    /// Prompt tokens, where the provider said.
    pub input_tokens: Option<u64>,
    /// Completion tokens, where the provider said.
    pub output_tokens: Option<u64>,
    /// Prompt tokens served from the provider's cache.
    pub cached_input_tokens: Option<u64>,
    /// Output tokens spent on reasoning.
    pub reasoning_tokens: Option<u64>,
    /// From the call to its answer (for a stream: to its end, or to the drop).
    pub latency_ms: u64,
    /// For a stream: from the call to its first event.
    pub time_to_first_token_ms: Option<u64>,
    /// Calls made to targets (retries and failovers included; skips are not calls).
    pub attempts: u32,
    /// `ok` or `error`.
    pub outcome: UsageOutcome,
    /// The class of the error that ended a failed call.
    pub error_class: Option<ErrorClass>,
    /// What the call cost, when the answering model is in the price table.
    pub cost: Option<f64>,
}

impl UsageRecord {
    /// A record for `spec` and the request's `context`, before the call's
    /// outcome is known.
    pub(crate) fn begin(spec: &str, context: &CallContext) -> Self {
        UsageRecord {
            provider: String::new(),
            model: String::new(),
            protocol: None,
            spec: spec.to_owned(),
            caller_id: context.caller_id.as_deref().map(str::to_owned),
            run_id: context.run_id.as_deref().map(str::to_owned),
            labels: context.labels.clone(),
            input_tokens: None,
            output_tokens: None,
            cached_input_tokens: None,
            reasoning_tokens: None,
            latency_ms: 0,
            time_to_first_token_ms: None,
            attempts: 0,
            outcome: UsageOutcome::Ok,
            error_class: None,
            cost: None,
        }
    }

    /// Fills tokens from `usage`.
    pub(crate) fn set_usage(&mut self, usage: &Usage) {
        self.input_tokens = usage.input_tokens;
        self.output_tokens = usage.output_tokens;
        self.cached_input_tokens = usage.cached_input_tokens;
        self.reasoning_tokens = usage.reasoning_tokens;
    }

    /// Counts the calls among `attempts` and names the last target called.
    pub(crate) fn set_attempts(&mut self, attempts: &[Attempt]) {
        let mut calls = attempts
            .iter()
            .filter(|a| matches!(a.outcome, AttemptOutcome::Ok | AttemptOutcome::Error));
        self.attempts = u32::try_from(calls.clone().count()).unwrap_or(u32::MAX);
        if let Some(last) = calls.next_back().or(attempts.last()) {
            self.provider = last.target.provider().to_owned();
            self.model = last.target.model().to_owned();
        }
    }

    /// Marks the call failed with `error`.
    pub(crate) fn set_error(&mut self, error: &Error, class: ErrorClass) {
        self.outcome = UsageOutcome::Error;
        self.error_class = Some(class);
        if !error.attempts().is_empty() {
            self.set_attempts(error.attempts());
        }
        if self.provider.is_empty() {
            if let Some(target) = error.target() {
                self.provider = target.provider().to_owned();
                self.model = target.model().to_owned();
            }
        }
    }
}

/// Receives one [`UsageRecord`] per chain call. Closures `Fn(&UsageRecord)`
/// implement it. Called on a task of its own, never on the caller's.
pub trait UsageSink: Send + Sync {
    /// One chain call ended.
    fn record(&self, record: &UsageRecord);
}

impl<F> UsageSink for F
where
    F: Fn(&UsageRecord) + Send + Sync,
{
    fn record(&self, record: &UsageRecord) {
        self(record)
    }
}

/// Prices per million tokens of one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelPrice {
    /// Per million prompt tokens (those not served from cache).
    pub input: f64,
    /// Per million completion tokens.
    pub output: f64,
    /// Per million cached prompt tokens; `input` when absent.
    #[serde(default)]
    pub cached_input: Option<f64>,
}

impl ModelPrice {
    /// Input and output prices per million tokens.
    pub fn new(input: f64, output: f64) -> Self {
        ModelPrice {
            input,
            output,
            cached_input: None,
        }
    }

    /// Sets the price per million cached prompt tokens.
    pub fn cached_input(mut self, price: f64) -> Self {
        self.cached_input = Some(price);
        self
    }
}

/// Prices by model, supplied by the host: the crate ships none, because
/// prices change without notice.
///
/// A record is priced by `provider/model` first, then by the bare model id.
///
/// ```
/// use majordomo::{ModelPrice, PriceTable};
/// let prices = PriceTable::from_json(r#"{"gpt-4o": {"input": 2.5, "output": 10.0}}"#)?;
/// assert_eq!(prices.get("openai", "gpt-4o"), Some(ModelPrice::new(2.5, 10.0)));
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    prices: HashMap<String, ModelPrice>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the price of `model` (`gpt-4o`, or `provider/model` to price one
    /// provider's deployment apart).
    pub fn price(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        self.prices.insert(model.into(), price);
        self
    }

    /// A table from JSON: `{"model": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}`.
    ///
    /// # Errors
    /// A configuration error naming what did not parse.
    pub fn from_json(json: &str) -> Result<Self> {
        let prices: HashMap<String, ModelPrice> =
            serde_json::from_str(json).map_err(|e| Error::config(format!("price table: {e}")))?;
        Ok(PriceTable { prices })
    }

    /// The price of `model` served by `provider`.
    pub fn get(&self, provider: &str, model: &str) -> Option<ModelPrice> {
        self.prices
            .get(&format!("{provider}/{model}"))
            .or_else(|| self.prices.get(model))
            .copied()
    }

    /// What `record` cost, if its model is priced and its token counts known.
    pub fn cost(&self, record: &UsageRecord) -> Option<f64> {
        let price = self.get(&record.provider, &record.model)?;
        let input = record.input_tokens? as f64;
        let output = record.output_tokens.unwrap_or(0) as f64;
        let cached = (record.cached_input_tokens.unwrap_or(0) as f64).min(input);
        let per_million = (input - cached) * price.input
            + cached * price.cached_input.unwrap_or(price.input)
            + output * price.output;
        Some(per_million / 1_000_000.0)
    }
}

/// Records waiting for the sink at most; past it a record is dropped with a warning.
const QUEUE: usize = 4096;

/// A sink behind a bounded queue drained by its own task, plus the prices.
#[derive(Clone)]
pub(crate) struct UsageReporter {
    sink: Arc<dyn UsageSink>,
    prices: Option<Arc<PriceTable>>,
    queue: Arc<OnceLock<Mutex<Option<mpsc::Sender<Queued>>>>>,
}

/// What the sink's task receives.
enum Queued {
    Record(Box<UsageRecord>),
    /// Answered once every record queued before it has been delivered.
    Flush(tokio::sync::oneshot::Sender<()>),
}

impl UsageReporter {
    pub(crate) fn new(sink: Arc<dyn UsageSink>, prices: Option<Arc<PriceTable>>) -> Self {
        UsageReporter {
            sink,
            prices,
            queue: Arc::default(),
        }
    }

    /// The same sink with `prices`.
    pub(crate) fn with_prices(self, prices: Arc<PriceTable>) -> Self {
        UsageReporter::new(self.sink, Some(prices))
    }

    /// Prices `record` and hands it to the sink's task (started on first use on
    /// the caller's runtime). Without a runtime the sink is called here.
    pub(crate) fn report(&self, mut record: UsageRecord) {
        if let Some(prices) = &self.prices {
            record.cost = prices.cost(&record);
        }
        if let Err(Queued::Record(record)) = self.enqueue(Queued::Record(Box::new(record))) {
            deliver(&*self.sink, &record);
        }
    }

    /// Waits until every record reported so far has reached the sink.
    pub(crate) async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.enqueue(Queued::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Queues `item` for the sink's task; gives it back when there is no
    /// runtime to run the task on.
    fn enqueue(&self, item: Queued) -> std::result::Result<(), Queued> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(item);
        };
        let slot = self.queue.get_or_init(|| Mutex::new(None));
        let mut sender = slot.lock_unpoisoned();
        let queue = sender.get_or_insert_with(|| {
            let (tx, mut rx) = mpsc::channel::<Queued>(QUEUE);
            let sink = Arc::clone(&self.sink);
            runtime.spawn(async move {
                while let Some(item) = rx.recv().await {
                    match item {
                        Queued::Record(record) => deliver(&*sink, &record),
                        Queued::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
            tx
        });
        match queue.try_send(item) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("usage sink is {QUEUE} records behind; a record was dropped");
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(item)) => {
                // The runtime that ran the sink's task is gone: start again here.
                *sender = None;
                drop(sender);
                self.enqueue(item)
            }
        }
    }
}

fn deliver(sink: &dyn UsageSink, record: &UsageRecord) {
    if catch_unwind(AssertUnwindSafe(|| sink.record(record))).is_err() {
        tracing::warn!("usage sink panicked; the record is lost, calls go on");
    }
}

impl fmt::Debug for UsageReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageReporter")
            .field("prices", &self.prices)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_counts_cached_tokens_at_their_price() {
        let prices = PriceTable::new().price("m", ModelPrice::new(2.0, 10.0).cached_input(1.0));
        let mut record = UsageRecord::begin("p/m", &CallContext::default());
        record.provider = "p".into();
        record.model = "m".into();
        record.input_tokens = Some(1_000_000);
        record.cached_input_tokens = Some(500_000);
        record.output_tokens = Some(100_000);
        let cost = prices.cost(&record).unwrap_or_default();
        assert!((cost - (1.0 + 0.5 + 1.0)).abs() < 1e-9, "{cost}");
        record.model = "unpriced".into();
        assert_eq!(prices.cost(&record), None);
    }
}
