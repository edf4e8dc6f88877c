//! [`LaneRegistry`]: named lanes, created on first use, configured by the host.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::lane::{Lane, Settings};
use super::queue::QueuePolicy;
use super::stats::LaneStats;
use crate::setters::chained_setters;
use crate::sync::LockUnpoisoned as _;

/// The cap a lane gets when the config source names none.
pub const DEFAULT_CAP: usize = 1;

/// How long an admitted call may run when the config source names no deadline.
pub const DEFAULT_EXECUTION_DEADLINE: Duration = Duration::from_secs(5 * 60);

/// Where lane settings come from: the host's configuration. Read when a lane is
/// created and again on every [`LaneRegistry::reload`].
///
/// Any `Fn(&str) -> Option<i64>` closure is a config source that sets caps only.
///
/// ```
/// use majordomo::lanes::LaneRegistry;
/// let lanes = LaneRegistry::builder()
///     .caps(|lane: &str| if lane.starts_with("openai/") { Some(8) } else { None })
///     .build();
/// assert_eq!(lanes.lane("openai/gpt-4o").stats().cap, 8);
/// assert_eq!(lanes.lane("ollama/llama3").stats().cap, 1);
/// ```
pub trait LaneConfig: Send + Sync {
    /// The cap of lane `lane`. `None` means the default, 1; values below 1 are
    /// raised to 1 (a lane that admits nothing would hang its callers).
    fn cap(&self, lane: &str) -> Option<i64>;

    /// The queue policy of lane `lane`; `None` means the registry's default.
    fn policy(&self, lane: &str) -> Option<QueuePolicy> {
        let _ = lane;
        None
    }

    /// How long an admitted call of lane `lane` may run; `None` means the
    /// registry's default.
    fn execution_deadline(&self, lane: &str) -> Option<Duration> {
        let _ = lane;
        None
    }
}

impl fmt::Debug for dyn LaneConfig {
    /// A config source is code: only its presence shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LaneConfig")
    }
}

impl<F> LaneConfig for F
where
    F: Fn(&str) -> Option<i64> + Send + Sync,
{
    fn cap(&self, lane: &str) -> Option<i64> {
        self(lane)
    }
}

/// Every lane at the default cap.
struct NoConfig;

impl LaneConfig for NoConfig {
    fn cap(&self, _lane: &str) -> Option<i64> {
        None
    }
}

/// Named lanes, created lazily on first use, with caps from a host
/// [`LaneConfig`]. Cheap to clone; clones share the lanes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use majordomo::lanes::LaneRegistry;
/// let lanes = LaneRegistry::builder().caps(|_: &str| Some(2)).build();
/// let answer = lanes.lane("batch").run(Some("alice"), async { Ok(42) }).await?;
/// assert_eq!(answer, 42);
/// assert_eq!(lanes.names(), ["batch"]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LaneRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<dyn LaneConfig>,
    policy: QueuePolicy,
    execution_deadline: Duration,
    lanes: Mutex<BTreeMap<String, Lane>>,
}

impl Default for LaneRegistry {
    fn default() -> Self {
        LaneRegistry::builder().build()
    }
}

impl LaneRegistry {
    /// A registry reading lane settings from `config`, with default policy
    /// (fair share) and execution deadline (5 minutes).
    pub fn new(config: impl LaneConfig + 'static) -> Self {
        LaneRegistry::builder().config(config).build()
    }

    /// A builder for a registry with non-default settings.
    pub fn builder() -> LaneRegistryBuilder {
        LaneRegistryBuilder {
            config: Arc::new(NoConfig),
            policy: QueuePolicy::default(),
            execution_deadline: DEFAULT_EXECUTION_DEADLINE,
        }
    }

    fn lanes(&self) -> MutexGuard<'_, BTreeMap<String, Lane>> {
        // Only map operations run under this lock; see `Lane::state`.
        self.inner.lanes.lock_unpoisoned()
    }

    fn settings(&self, name: &str) -> Settings {
        let config = &self.inner.config;
        let cap = config.cap(name).map_or(DEFAULT_CAP, |cap| {
            usize::try_from(cap.max(1)).unwrap_or(usize::MAX)
        });
        Settings {
            cap,
            policy: config.policy(name).unwrap_or(self.inner.policy),
            execution_deadline: config
                .execution_deadline(name)
                .unwrap_or(self.inner.execution_deadline),
        }
    }

    /// The lane named `name`, created with its configured settings if it does not exist yet.
    pub fn lane(&self, name: &str) -> Lane {
        if let Some(lane) = self.lanes().get(name) {
            return lane.clone();
        }
        // Host code (the config source) runs outside our lock, so it may call
        // back into the registry without deadlocking.
        let fresh = Lane::new(name.to_owned(), self.settings(name));
        self.lanes().entry(name.to_owned()).or_insert(fresh).clone()
    }

    /// The lane named `name`, if it has been created.
    pub fn get(&self, name: &str) -> Option<Lane> {
        self.lanes().get(name).cloned()
    }

    /// Every lane created so far, by name.
    pub fn list(&self) -> Vec<Lane> {
        self.lanes().values().cloned().collect()
    }

    /// The names of every lane created so far, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lanes().keys().cloned().collect()
    }

    /// A snapshot of every lane, by name.
    pub fn stats(&self) -> Vec<LaneStats> {
        self.list().iter().map(Lane::stats).collect()
    }

    /// Re-reads every lane's settings from the config source and applies them
    /// in place: running calls continue, calls admitted from now on respect
    /// the new cap, and a raised cap admits waiting calls at once.
    pub fn reload(&self) {
        for lane in self.list() {
            lane.apply(self.settings(lane.name()));
        }
    }
}

impl fmt::Debug for LaneRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaneRegistry")
            .field("policy", &self.inner.policy)
            .field("execution_deadline", &self.inner.execution_deadline)
            .field("lanes", &self.names())
            .finish()
    }
}

/// Builds a [`LaneRegistry`]; from [`LaneRegistry::builder`].
#[derive(Debug)]
pub struct LaneRegistryBuilder {
    config: Arc<dyn LaneConfig>,
    policy: QueuePolicy,
    execution_deadline: Duration,
}

impl LaneRegistryBuilder {
    chained_setters! {
        /// Where lane settings come from. Default: none, so every lane has cap 1.
        config(config: impl LaneConfig + 'static) => config = Arc::new(config);
        /// The queue policy of lanes the config source gives none. Default: [`QueuePolicy::FairShare`].
        policy(policy: QueuePolicy) => policy = policy;
        /// How long an admitted call may run, for lanes the config source gives no
        /// deadline. Default: 5 minutes.
        execution_deadline(deadline: Duration) => execution_deadline = deadline;
    }

    /// A config source that sets caps only, from a function of the lane name.
    pub fn caps(self, caps: impl Fn(&str) -> Option<i64> + Send + Sync + 'static) -> Self {
        self.config(caps)
    }

    /// The registry.
    pub fn build(self) -> LaneRegistry {
        LaneRegistry {
            inner: Arc::new(Inner {
                config: self.config,
                policy: self.policy,
                execution_deadline: self.execution_deadline,
                lanes: Mutex::new(BTreeMap::new()),
            }),
        }
    }
}
