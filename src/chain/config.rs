//! [`ChainConfig`]: how a chain retries, advances and reports.

use std::sync::Arc;
use std::time::Duration;

use super::budget::RetryBudget;
use super::event::FailoverObserver;
use super::group::RoutingStrategy;
use super::hedge::{Hedge, HedgeDelay};
use crate::setters::chained_setters;
use crate::usage::UsageReporter;
use crate::{Classifier, DefaultClassifier, PriceTable, UsageSink};

/// Chain settings, set on the registry builder and shared by every chain it parses.
///
/// What a chain does after each failed attempt depends on the error's class
/// (retry, advance, stop; the table is on [`ErrorClass`](crate::ErrorClass));
/// these settings tune it: how many same-target retries, whether a permanent
/// error advances, a deadline over the whole call (see
/// [`Deadlines`](crate::Deadlines) for why streams get two bounds), a retry
/// budget, routing inside groups, hedging.
///
/// ```
/// use std::time::Duration;
/// use majordomo::{ChainConfig, RetryBudget};
/// let config = ChainConfig::default()
///     .transient_retries(2)
///     .retry_pause(Duration::from_millis(200))
///     .deadline(Duration::from_secs(30))
///     .retry_budget(RetryBudget::new(0.2, 10, Duration::from_secs(10))?)
///     .observer(|event: &majordomo::FailoverEvent| eprintln!("{event}"));
/// assert_eq!(config.transient_retries, 2);
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChainConfig {
    /// Extra attempts on the same target after a transient error. Default: 1; 0 disables.
    pub transient_retries: u32,
    /// Advance to the next target on a permanent error instead of failing fast. Default: false.
    pub advance_on_permanent: bool,
    /// Assigns classes to errors. Default: [`DefaultClassifier`].
    pub classifier: Arc<dyn Classifier>,
    /// Pause (tokio time) before each same-target retry. Default: none.
    pub retry_pause: Option<Duration>,
    /// Deadline for one call across every attempt, skip and pause; for a
    /// stream, until its first event. Default: none.
    pub deadline: Option<Duration>,
    /// Caps same-target retries at a share of recent calls. Default: none
    /// (only `transient_retries` and benching limit retries).
    pub retry_budget: Option<RetryBudget>,
    /// Receives a [`crate::FailoverEvent`] for every failover step. Default: none.
    pub observer: Option<Arc<dyn FailoverObserver>>,
    /// How a group (`a|b`) picks a member. Default: [`RoutingStrategy::PeakEwma`].
    pub routing: RoutingStrategy,
    /// Seed for the groups' random choices, for reproducible tests. Default:
    /// none (seeded from the process's random state).
    pub routing_seed: Option<u64>,
    /// What a call does when every target is benched. Default: [`AllBenched::Fail`].
    pub all_benched: AllBenched,
    /// Races a slow attempt with the next candidate. Default: none.
    pub hedge: Option<Hedge>,
    /// Records every call's prompt and answer on its spans (ADR 0020).
    /// Default: false.
    pub capture_content: bool,
    /// The usage sink and prices, set with [`ChainConfig::usage_sink`] and
    /// [`ChainConfig::prices`]. Default: none (no record is built).
    usage: Option<UsageReporter>,
    prices: Option<Arc<PriceTable>>,
}

/// What a chain call does when it finds every target benched.
///
/// ```
/// use majordomo::{AllBenched, ChainConfig};
/// let config = ChainConfig::default().all_benched(AllBenched::ProbeSoonest);
/// assert_eq!(config.all_benched, AllBenched::ProbeSoonest);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllBenched {
    /// Fail with the exhaustion error, transient, whose `retry_after` says
    /// when the first target comes back.
    #[default]
    Fail,
    /// Call the target whose bench ends soonest anyway: a late answer beats
    /// no answer. Its failure counts as usual.
    ProbeSoonest,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            transient_retries: 1,
            advance_on_permanent: false,
            classifier: Arc::new(DefaultClassifier),
            retry_pause: None,
            deadline: None,
            retry_budget: None,
            observer: None,
            routing: RoutingStrategy::default(),
            routing_seed: None,
            all_benched: AllBenched::default(),
            hedge: None,
            capture_content: false,
            usage: None,
            prices: None,
        }
    }
}

impl ChainConfig {
    chained_setters! {
        /// Sets the number of same-target retries after a transient error. Default: 1.
        transient_retries(retries: u32) => transient_retries = retries;
        /// Advance on permanent errors instead of failing fast. Default: false.
        advance_on_permanent(advance: bool) => advance_on_permanent = advance;
        /// Installs a custom classifier. Default: [`DefaultClassifier`].
        classifier(classifier: impl Classifier + 'static) => classifier = Arc::new(classifier);
        /// Pauses before each same-target retry, on tokio time (so paused-time
        /// tests stay instant; calls must then run on a Tokio runtime with time
        /// enabled). Default: no pause.
        retry_pause(pause: Duration) => retry_pause = Some(pause);
        /// Bounds one call, across all its attempts, with a deadline. When it
        /// expires the call fails with [`crate::ErrorKind::Timeout`] carrying the
        /// attempts made so far. Uses tokio time, like [`ChainConfig::retry_pause`].
        /// Default: no deadline.
        deadline(deadline: Duration) => deadline = Some(deadline);
        /// Installs a retry budget. Default: none.
        retry_budget(budget: RetryBudget) => retry_budget = Some(budget);
        /// Sets how groups pick a member. Default: [`RoutingStrategy::PeakEwma`].
        routing(strategy: RoutingStrategy) => routing = strategy;
        /// Seeds the groups' random choices, so a test sees the same picks every run.
        routing_seed(seed: u64) => routing_seed = Some(seed);
        /// Sets what a call does when every target is benched. Default: [`AllBenched::Fail`].
        all_benched(policy: AllBenched) => all_benched = policy;
        /// Installs the failover observer. Closures `Fn(&FailoverEvent)` work.
        /// Default: none.
        observer(observer: impl FailoverObserver + 'static) => observer = Some(Arc::new(observer));
        /// Records the prompt and answer of every call through the chain on its
        /// spans (`gen_ai.input.messages`, `gen_ai.output.messages`,
        /// `gen_ai.system_instructions`), by turning on
        /// [`crate::CallContext::capture_content`] for each request. Default: off.
        capture_content(on: bool) => capture_content = on;
    }

    /// Hedges: when an attempt has not answered (a stream: not yielded its
    /// first event) `after` a fixed delay or a latency percentile, the next
    /// candidate (the group's next member, else the next element) starts in
    /// parallel; the first success wins and the other is cancelled, unpenalised.
    /// `budget` caps hedges at a share of calls, like the retry budget (use
    /// its own account, not the retry budget's). The delay runs on tokio
    /// time, like [`ChainConfig::retry_pause`]: calls must then run on a Tokio
    /// runtime with time enabled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use majordomo::{ChainConfig, HedgeDelay, RetryBudget};
    /// let budget = RetryBudget::new(0.1, 1, Duration::from_secs(10))?;
    /// let fixed = ChainConfig::default().hedge(Duration::from_millis(150), budget.clone());
    /// let p95 = ChainConfig::default().hedge(HedgeDelay::percentile(0.95, Duration::from_secs(2)), budget);
    /// assert!(fixed.hedge.is_some() && p95.hedge.is_some());
    /// # Ok::<(), majordomo::Error>(())
    /// ```
    pub fn hedge(mut self, after: impl Into<HedgeDelay>, budget: RetryBudget) -> Self {
        self.hedge = Some(Hedge::new(after.into(), budget));
        self
    }

    /// Installs the usage sink: it receives one [`crate::UsageRecord`] per chain
    /// call, succeeded or failed, on a task of its own (a slow or panicking
    /// sink never delays or breaks a call). Closures `Fn(&UsageRecord)` work.
    pub fn usage_sink(mut self, sink: impl UsageSink + 'static) -> Self {
        self.usage = Some(UsageReporter::new(Arc::new(sink), self.prices.clone()));
        self
    }

    /// Prices the usage records (their `cost`), in either order with
    /// [`ChainConfig::usage_sink`].
    pub fn prices(mut self, prices: PriceTable) -> Self {
        let prices = Arc::new(prices);
        self.usage = self
            .usage
            .take()
            .map(|reporter| reporter.with_prices(Arc::clone(&prices)));
        self.prices = Some(prices);
        self
    }

    /// Waits until every usage record reported so far has reached the sink
    /// (records travel on a task of their own). Returns at once without a sink.
    pub async fn flush_usage(&self) {
        if let Some(reporter) = &self.usage {
            reporter.flush().await;
        }
    }

    /// The usage sink's reporter, when one is installed.
    pub(crate) fn usage(&self) -> Option<&UsageReporter> {
        self.usage.as_ref()
    }
}
