//! [`RedisStore`]: health shared across replicas through Redis (feature
//! `redis`, ADR 0017).
//!
//! - Every update is one atomic Lua script (see `redis_scripts`), so failures
//!   from every replica count once each and the rules are exactly those of
//!   [`TargetHealth::on_failure`].
//! - Reads never touch Redis: each store keeps an in-process view that Redis
//!   pushes to (one pub/sub channel per namespace), with a periodic full
//!   resync as a backstop. The healthy path costs a map lookup.
//! - Writes go through one bounded queue, retried (idempotently) while Redis
//!   is away and dropped with a warning past their age or when the queue is
//!   full. A background task keeps the subscription alive, reconnecting and
//!   resyncing by itself.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::redis as rds;
use async_trait::async_trait;
use futures::StreamExt as _;
use rds::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, oneshot, watch};

use super::redis_scripts;
use super::{HealthConfig, HealthStore, TargetHealth};
use crate::setters::chained_setters;
use crate::sync::LockUnpoisoned as _;
use crate::sync::RwLockUnpoisoned as _;
use crate::{Error, ErrorKind, Result, Secret};

/// The default key namespace.
const DEFAULT_NAMESPACE: &str = "majordomo";

/// Builds a [`RedisStore`]; see [`RedisStore::builder`].
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisStoreBuilder {
    url: String,
    namespace: String,
    record_ttl: Duration,
    resync_interval: Duration,
    op_timeout: Duration,
    queue_capacity: usize,
    write_max_age: Duration,
}

impl RedisStoreBuilder {
    chained_setters! {
        /// The key namespace (default `majordomo`): keys are `NS:health:…` and
        /// updates go out on `NS:health:events`, so several applications can share
        /// one Redis. Replicas of one application use the same namespace.
        namespace(namespace: impl Into<String>) => namespace = namespace.into();
        /// How long a record outlives its bench (or, unbenched, its last
        /// failure) before Redis drops it (default 1 hour). A record must outlive
        /// its bench so that one more failure after the cooldown re-benches at
        /// once (half-open); past this, a target nobody calls is forgotten.
        record_ttl(ttl: Duration) => record_ttl = ttl;
        /// How often the whole namespace is re-read, as a backstop for a missed
        /// update (default 5 s). Expired records leave the view then.
        resync_interval(interval: Duration) => resync_interval = interval.max(Duration::from_millis(10));
        /// The time limit of one Redis command, connecting included (default
        /// 1 s). Calls never wait this long: they have the tracker's much shorter
        /// [`HealthConfig::store_budget`]; this bounds the background work.
        op_timeout(timeout: Duration) => op_timeout = timeout.max(Duration::from_millis(1));
        /// How many writes may wait for Redis (default 1024). Past it, new writes
        /// are dropped with a warning (the in-process view still has them).
        queue_capacity(capacity: usize) => queue_capacity = capacity.max(1);
        /// How long a queued write is retried while Redis is away before it is
        /// dropped with a warning (default 30 s).
        write_max_age(age: Duration) => write_max_age = age;
    }

    /// Starts the store: returns at once, without waiting for Redis (a Redis
    /// that is down at start-up is just reconnected to later). Must be called
    /// inside a Tokio runtime, which runs its background tasks.
    ///
    /// Fails only on a URL that cannot be used (malformed, an unknown scheme,
    /// or `rediss://` without the `redis-tls` feature); the error never shows
    /// the password.
    pub fn build(self) -> Result<RedisStore> {
        let redacted = redact_url(&self.url);
        let secret = password_of(&self.url);
        let hide = |e: &dyn fmt::Display| -> String {
            let text = e.to_string();
            match &secret {
                Some(secret) => secret.redact(&text),
                None => text,
            }
        };
        if self.url.starts_with("rediss://") && !cfg!(feature = "redis-tls") {
            return Err(Error::config(format!(
                "{redacted}: rediss:// needs majordomo's `redis-tls` feature"
            )));
        }
        let client = rds::Client::open(self.url.as_str())
            .map_err(|e| Error::config(format!("invalid Redis URL {redacted}: {}", hide(&e))))?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::config("RedisStore::build must be called inside a Tokio runtime")
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.op_timeout))
            .set_connection_timeout(Some(self.op_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|e| Error::config(format!("Redis {redacted}: {}", hide(&e))))?;

        let prefix = format!("{}:health:", self.namespace);
        let keys = Keys {
            records: format!("{prefix}rec:"),
            leases: format!("{prefix}probe:"),
            markers: format!("{prefix}op:"),
            seq: format!("{prefix}seq"),
            channel: format!("{prefix}events"),
            pattern: format!("{}*", glob_escape(&format!("{prefix}rec:"))),
        };
        let (synced_tx, synced_rx) = watch::channel(0u64);
        let (queue_tx, queue_rx) = mpsc::channel(self.queue_capacity);
        let ctx = Arc::new(Ctx {
            keys,
            view: View::default(),
            connected: AtomicBool::new(false),
            synced: synced_tx,
            secret,
            redacted_url: redacted,
            settings: self,
            failure_script: rds::Script::new(redis_scripts::FAILURE),
            success_script: rds::Script::new(redis_scripts::SUCCESS),
            release_script: rds::Script::new(redis_scripts::RELEASE),
        });
        let writer = runtime.spawn(writer(Arc::clone(&ctx), manager.clone(), queue_rx));
        let subscriber = runtime.spawn(subscriber(Arc::clone(&ctx), client, manager.clone()));
        Ok(RedisStore {
            inner: Arc::new(Inner {
                ctx,
                manager,
                queue: queue_tx,
                leases: Mutex::default(),
                synced: synced_rx,
                tasks: [writer.abort_handle(), subscriber.abort_handle()],
            }),
        })
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &redact_url(&self.url))
            .field("namespace", &self.namespace)
            .field("record_ttl", &self.record_ttl)
            .field("resync_interval", &self.resync_interval)
            .field("op_timeout", &self.op_timeout)
            .field("queue_capacity", &self.queue_capacity)
            .field("write_max_age", &self.write_max_age)
            .finish()
    }
}

/// A [`HealthStore`] shared by every replica that points at the same Redis
/// and namespace (feature `redis`).
///
/// Reads answer from an in-process view that Redis pushes updates to, so a
/// healthy call never waits for Redis; each update is one atomic script, so
/// every replica's failures count toward one threshold; one probe lease per
/// target spans replicas. If Redis is down, slow or hung, calls go on with
/// the local view and the store reconnects and resyncs by itself. Cheap to
/// clone (shared state); the background tasks stop when the last clone drops.
///
/// ```no_run
/// # async fn run() -> majordomo::Result<()> {
/// use majordomo::Registry;
/// use majordomo::health::RedisStore;
///
/// let store = RedisStore::builder("redis://:password@127.0.0.1:6379/0")
///     .namespace("myapp")
///     .build()?;
/// let registry = Registry::builder().health_store(store).build();
/// # let _ = registry;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Arc<Ctx>,
    manager: ConnectionManager,
    queue: mpsc::Sender<Write>,
    /// The probe leases this store holds: key → token.
    leases: Mutex<HashMap<String, String>>,
    synced: watch::Receiver<u64>,
    tasks: [tokio::task::AbortHandle; 2],
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What the background tasks share with the store.
struct Ctx {
    keys: Keys,
    view: View,
    /// True while the subscription is live and the last command worked.
    connected: AtomicBool,
    /// Counts completed full resyncs.
    synced: watch::Sender<u64>,
    secret: Option<Secret>,
    redacted_url: String,
    settings: RedisStoreBuilder,
    failure_script: rds::Script,
    success_script: rds::Script,
    release_script: rds::Script,
}

struct Keys {
    records: String,
    leases: String,
    markers: String,
    seq: String,
    channel: String,
    pattern: String,
}

impl Ctx {
    /// How long a write's marker lives: every retry of the write (which
    /// happen within `write_max_age`) finds it and counts once.
    fn marker_ttl(&self) -> Duration {
        self.settings.write_max_age + self.settings.op_timeout * 2 + Duration::from_secs(1)
    }

    fn error(&self, what: &str, e: &rds::RedisError) -> Error {
        let text = e.to_string();
        let text = match &self.secret {
            Some(secret) => secret.redact(&text),
            None => text,
        };
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Transport
        };
        Error::new(kind, format!("Redis {} {what}: {text}", self.redacted_url))
    }

    fn set_connected(&self, up: bool) {
        let was = self.connected.swap(up, Ordering::Relaxed);
        if was && !up {
            tracing::warn!(redis = %self.redacted_url, "Redis health store unreachable; calls go on with the in-process view");
        } else if !was && up {
            tracing::info!(redis = %self.redacted_url, "Redis health store connected");
        }
    }
}

impl RedisStore {
    /// A builder for a store at `url` (`redis://[[user]:password@]host[:port][/db]`,
    /// or `rediss://` with the `redis-tls` feature).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            record_ttl: Duration::from_secs(3600),
            resync_interval: Duration::from_secs(5),
            op_timeout: Duration::from_secs(1),
            queue_capacity: 1024,
            write_max_age: Duration::from_secs(30),
        }
    }

    /// True while the store is subscribed to Redis and its last command worked.
    pub fn is_connected(&self) -> bool {
        self.inner.ctx.connected.load(Ordering::Relaxed)
    }

    /// Waits until the store has read the whole namespace at least once
    /// since it started (or, with `after`, more than `after` times), and
    /// returns the number of completed resyncs. Never needed for
    /// correctness; handy at start-up and in tests. Bound it with a timeout:
    /// it waits for as long as Redis is away.
    pub async fn synced(&self, after: u64) -> u64 {
        let mut rx = self.inner.synced.clone();
        let waited = rx
            .wait_for(|count| *count > after)
            .await
            .map(|count| *count);
        waited.unwrap_or_else(|_| *rx.borrow())
    }

    /// Re-reads the whole namespace now (the background task also does every
    /// [`RedisStoreBuilder::resync_interval`]).
    pub async fn resync(&self) -> Result<()> {
        let ctx = &self.inner.ctx;
        let mut manager = self.inner.manager.clone();
        bounded(ctx, "resync", resync(ctx, &mut manager)).await
    }

    /// Waits until every write queued so far has reached Redis (or been
    /// dropped after [`RedisStoreBuilder::write_max_age`]). For a short-lived
    /// process before it exits; bound it with a timeout.
    pub async fn flush(&self) {
        let (reply, answer) = oneshot::channel();
        let write = Write {
            key: Arc::from(""),
            marker: String::new(),
            op: Op::Flush,
            queued: Instant::now(),
            reply,
        };
        if self.inner.queue.send(write).await.is_ok() {
            let _ = answer.await;
        }
    }

    fn marker(&self) -> String {
        format!("{}{}", self.inner.ctx.keys.markers, unique_token())
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.ctx.redacted_url)
            .field("namespace", &self.inner.ctx.settings.namespace)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl HealthStore for RedisStore {
    /// From the in-process view: no Redis round trip.
    async fn get(&self, key: &str) -> Result<Option<TargetHealth>> {
        Ok(self.inner.ctx.view.get(key))
    }

    /// From the in-process view, at once.
    fn peek(&self, key: &str) -> Option<Option<TargetHealth>> {
        Some(self.inner.ctx.view.get(key))
    }

    async fn record_failure(
        &self,
        key: &str,
        now: SystemTime,
        config: &HealthConfig,
        retry_after: Option<Duration>,
    ) -> Result<TargetHealth> {
        let ctx = &self.inner.ctx;
        // The local view takes the failure at once: if Redis is away, this
        // replica still benches on its own.
        let local = ctx
            .view
            .apply_local(key, |h| h.on_failure(now, config, retry_after));
        let (reply, answer) = oneshot::channel();
        let write = Write {
            key: Arc::from(key),
            marker: self.marker(),
            op: Op::Failure(FailureArgs::new(now, config, retry_after)),
            queued: Instant::now(),
            reply,
        };
        self.enqueue(write)?;
        if !self.is_connected() {
            // Known down: do not make the call wait for a reply that will
            // come late; the write stays queued.
            return Ok(local);
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Ok(local),
        }
    }

    async fn record_success(&self, key: &str) -> Result<()> {
        let ctx = &self.inner.ctx;
        ctx.view.apply_local(key, TargetHealth::on_success);
        let (reply, answer) = oneshot::channel();
        let write = Write {
            key: Arc::from(key),
            marker: self.marker(),
            op: Op::Success,
            queued: Instant::now(),
            reply,
        };
        self.enqueue(write)?;
        if !self.is_connected() {
            return Ok(());
        }
        match answer.await {
            Ok(result) => result.map(|_| ()),
            Err(_) => Ok(()),
        }
    }

    /// From the in-process view.
    async fn snapshot(&self) -> Result<Vec<(String, TargetHealth)>> {
        Ok(self.inner.ctx.view.snapshot())
    }

    fn is_local(&self) -> bool {
        // Writes and probe leases go to Redis: the tracker must give them its
        // time budget. Reads answer from the view at memory speed anyway.
        false
    }

    async fn try_begin_probe(&self, key: &str, _now: SystemTime, lease: Duration) -> Result<bool> {
        let ctx = &self.inner.ctx;
        if !self.is_connected() {
            return Err(Error::new(
                ErrorKind::Transport,
                format!(
                    "Redis {} is unreachable; the probe lease is local",
                    ctx.redacted_url
                ),
            ));
        }
        let token = unique_token();
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut manager = self.inner.manager.clone();
        let mut command = rds::cmd("SET");
        command
            .arg(format!("{}{key}", ctx.keys.leases))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms);
        let taken: Option<String> = bounded(ctx, "probe lease", async {
            command
                .query_async(&mut manager)
                .await
                .map_err(|e| ctx.error("probe lease", &e))
        })
        .await?;
        if taken.is_some() {
            self.inner
                .leases
                .lock_unpoisoned()
                .insert(key.to_owned(), token);
        }
        Ok(taken.is_some())
    }

    async fn end_probe(&self, key: &str) -> Result<()> {
        let token = self.inner.leases.lock_unpoisoned().remove(key);
        let Some(token) = token else {
            return Ok(());
        };
        let ctx = &self.inner.ctx;
        let mut manager = self.inner.manager.clone();
        let lease = format!("{}{key}", ctx.keys.leases);
        bounded(ctx, "probe release", async {
            ctx.release_script
                .key(lease)
                .arg(token)
                .invoke_async::<i64>(&mut manager)
                .await
                .map_err(|e| ctx.error("probe release", &e))
        })
        .await
        .map(|_| ())
    }
}

impl RedisStore {
    fn enqueue(&self, write: Write) -> Result<()> {
        match self.inner.queue.try_send(write) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(write)) => {
                // The tracker logs the error as a warning.
                tracing::debug!(target = %write.key, "Redis health write queue full; write dropped (kept in the in-process view)");
                Err(Error::new(
                    ErrorKind::Transport,
                    "Redis health write queue full; write dropped",
                ))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::new(
                ErrorKind::Transport,
                "Redis health store stopped",
            )),
        }
    }
}

// ===== the in-process view =====

/// The in-process view: key → (seq of the last update applied, record). A
/// clean record stays as a tombstone so that an older update cannot bring
/// it back.
#[derive(Default)]
struct View {
    map: RwLock<HashMap<Arc<str>, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    seq: u64,
    health: TargetHealth,
}

impl View {
    fn get(&self, key: &str) -> Option<TargetHealth> {
        let map = self.map.read_unpoisoned();
        map.get(key)
            .map(|entry| entry.health)
            .filter(|health| !health.is_clean())
    }

    /// Applies a local write ahead of Redis (same seq: any update from Redis
    /// supersedes it).
    fn apply_local(&self, key: &str, change: impl FnOnce(&mut TargetHealth)) -> TargetHealth {
        let mut map = self.map.write_unpoisoned();
        let entry = match map.get_mut(key) {
            Some(entry) => entry,
            None => map.entry(Arc::from(key)).or_insert(Entry {
                seq: 0,
                health: TargetHealth::default(),
            }),
        };
        change(&mut entry.health);
        entry.health
    }

    /// Applies an update from Redis unless the view already has a newer one.
    fn apply(&self, key: &str, seq: u64, health: TargetHealth) {
        let mut map = self.map.write_unpoisoned();
        match map.get_mut(key) {
            Some(entry) if entry.seq >= seq => {}
            Some(entry) => *entry = Entry { seq, health },
            None => {
                map.insert(Arc::from(key), Entry { seq, health });
            }
        }
    }

    /// Applies a full read of the namespace taken when the counter was at
    /// `start`: records newer than the view win; records the read did not see
    /// are gone unless an update after `start` brought them. No counter at
    /// all means Redis holds nothing for the namespace (say, it restarted
    /// empty): every record the read did not see is gone. The counter is
    /// seeded from Redis's clock, so it still grows across such a restart.
    fn replace(&self, start: Option<u64>, read: HashMap<String, Entry>) {
        let start = start.unwrap_or(u64::MAX);
        let mut map = self.map.write_unpoisoned();
        for (key, entry) in map.iter_mut() {
            if !read.contains_key(&**key) && entry.seq <= start {
                entry.health = TargetHealth::default();
            }
        }
        for (key, entry) in read {
            match map.get_mut(key.as_str()) {
                Some(current) if current.seq >= entry.seq => {}
                Some(current) => *current = entry,
                None => {
                    map.insert(Arc::from(key), entry);
                }
            }
        }
    }

    fn snapshot(&self) -> Vec<(String, TargetHealth)> {
        let map = self.map.read_unpoisoned();
        let mut all: Vec<_> = map
            .iter()
            .filter(|(_, entry)| !entry.health.is_clean())
            .map(|(key, entry)| (key.to_string(), entry.health))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

// ===== writes =====

struct Write {
    key: Arc<str>,
    marker: String,
    op: Op,
    queued: Instant,
    reply: oneshot::Sender<Result<TargetHealth>>,
}

enum Op {
    Failure(FailureArgs),
    Success,
    /// Answers once every write queued before it is done or dropped.
    Flush,
}

/// The arguments of the failure script, fixed when the failure happened.
#[derive(Debug, Clone, PartialEq)]
struct FailureArgs {
    now_ms: u64,
    threshold: u32,
    base_secs: f64,
    multiplier: f64,
    cap_secs: f64,
    cap_ms: u64,
    retry_ms: u64,
    retry_cap_ms: u64,
}

impl FailureArgs {
    pub(super) fn new(
        now: SystemTime,
        config: &HealthConfig,
        retry_after: Option<Duration>,
    ) -> Self {
        let multiplier = if config.multiplier.is_finite() && config.multiplier >= 1.0 {
            config.multiplier
        } else {
            1.0
        };
        FailureArgs {
            now_ms: millis(now.duration_since(UNIX_EPOCH).unwrap_or_default()),
            threshold: config.failure_threshold,
            base_secs: config.base_cooldown.as_secs_f64(),
            multiplier,
            cap_secs: config.max_cooldown.as_secs_f64(),
            cap_ms: millis(config.max_cooldown),
            // A hint is honoured for at least its length: round up.
            retry_ms: retry_after.map_or(0, |wait| millis(wait + Duration::from_nanos(999_999))),
            retry_cap_ms: millis(config.max_retry_after),
        }
    }

    /// Invokes the failure script with these arguments.
    async fn invoke(
        &self,
        ctx: &Ctx,
        keys: [&str; 3],
        target: &str,
        con: &mut impl rds::aio::ConnectionLike,
    ) -> rds::RedisResult<(u64, TargetHealth)> {
        let reply: Vec<i64> = ctx
            .failure_script
            .key(keys[0])
            .key(keys[1])
            .key(keys[2])
            .arg(self.now_ms)
            .arg(self.threshold)
            .arg(self.base_secs.to_string())
            .arg(self.multiplier.to_string())
            .arg(self.cap_secs.to_string())
            .arg(self.cap_ms)
            .arg(self.retry_ms)
            .arg(self.retry_cap_ms)
            .arg(millis(ctx.settings.record_ttl))
            .arg(&ctx.keys.channel)
            .arg(target)
            .arg(millis(ctx.marker_ttl()))
            .invoke_async(con)
            .await?;
        Ok(record_of(&reply))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `{seq, failures, rounds, until-or--1}` from a script.
fn record_of(reply: &[i64]) -> (u64, TargetHealth) {
    let field = |i: usize| reply.get(i).copied().unwrap_or(0);
    let count = |i: usize| u32::try_from(field(i).max(0)).unwrap_or(u32::MAX);
    let until = u64::try_from(field(3))
        .ok()
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    let health = health_of(count(1), count(2), until);
    (u64::try_from(field(0)).unwrap_or(0), health)
}

fn health_of(failures: u32, rounds: u32, until: Option<SystemTime>) -> TargetHealth {
    TargetHealth {
        consecutive_failures: failures,
        bench_rounds: rounds,
        benched_until: until,
    }
}

/// Parses a published update: `"seq failures rounds until-or-dash key"`.
fn parse_update(payload: &str) -> Option<(u64, TargetHealth, &str)> {
    let mut parts = payload.splitn(5, ' ');
    let seq = parts.next()?.parse().ok()?;
    let failures = parts.next()?.parse().ok()?;
    let rounds = parts.next()?.parse().ok()?;
    let until = match parts.next()? {
        "-" => None,
        ms => Some(UNIX_EPOCH + Duration::from_millis(ms.parse().ok()?)),
    };
    let key = parts.next()?;
    Some((seq, health_of(failures, rounds, until), key))
}

/// The writer: one write at a time, in order, each retried while Redis is
/// away (the marker makes a retry count once) until it is too old.
async fn writer(ctx: Arc<Ctx>, mut manager: ConnectionManager, mut queue: mpsc::Receiver<Write>) {
    while let Some(write) = queue.recv().await {
        if matches!(write.op, Op::Flush) {
            let _ = write.reply.send(Ok(TargetHealth::default()));
            continue;
        }
        let record = format!("{}{}", ctx.keys.records, write.key);
        let mut backoff = Duration::from_millis(50);
        loop {
            let attempt = async {
                let keys = [
                    record.as_str(),
                    ctx.keys.seq.as_str(),
                    write.marker.as_str(),
                ];
                match &write.op {
                    Op::Failure(args) => args.invoke(&ctx, keys, &write.key, &mut manager).await,
                    Op::Flush => Ok((0, TargetHealth::default())),
                    Op::Success => {
                        let reply: Vec<i64> = ctx
                            .success_script
                            .key(keys[0])
                            .key(keys[1])
                            .key(keys[2])
                            .arg(&ctx.keys.channel)
                            .arg(&*write.key)
                            .arg(millis(ctx.marker_ttl()))
                            .invoke_async(&mut manager)
                            .await?;
                        Ok(record_of(&reply))
                    }
                }
            };
            let outcome = match tokio::time::timeout(ctx.settings.op_timeout, attempt).await {
                Ok(Ok(record)) => Ok(record),
                Ok(Err(e)) => Err(Some(e)),
                Err(_) => Err(None),
            };
            match outcome {
                Ok((seq, health)) => {
                    ctx.view.apply(&write.key, seq, health);
                    let _ = write.reply.send(Ok(health));
                    break;
                }
                Err(Some(e)) if !retryable(&e) => {
                    let error = ctx.error("health write", &e);
                    tracing::warn!(target = %write.key, %error, "Redis health write failed; dropped");
                    let _ = write.reply.send(Err(error));
                    break;
                }
                Err(e) => {
                    ctx.set_connected(false);
                    if write.queued.elapsed() >= ctx.settings.write_max_age {
                        let error = match e {
                            Some(e) => ctx.error("health write", &e),
                            None => Error::timeout("Redis health write timed out"),
                        };
                        tracing::warn!(target = %write.key, %error, "Redis health write dropped after retrying");
                        let _ = write.reply.send(Err(error));
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Errors worth retrying: the connection, a timeout, a busy or loading server.
fn retryable(e: &rds::RedisError) -> bool {
    e.is_timeout()
        || e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || !matches!(e.retry_method(), rds::RetryMethod::NoRetry)
}

// ===== subscription and resync =====

/// Keeps the subscription alive: subscribe, resync, apply updates, resync
/// every interval; on any loss, back off and start again.
async fn subscriber(ctx: Arc<Ctx>, client: rds::Client, mut manager: ConnectionManager) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let started = Instant::now();
        if let Err(error) = session(&ctx, &client, &mut manager).await {
            tracing::debug!(redis = %ctx.redacted_url, %error, "Redis health subscription lost; reconnecting");
        }
        ctx.set_connected(false);
        if started.elapsed() > Duration::from_secs(5) {
            backoff = Duration::from_millis(50);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn session(ctx: &Ctx, client: &rds::Client, manager: &mut ConnectionManager) -> Result<()> {
    let limit = ctx.settings.op_timeout;
    let pubsub = bounded(ctx, "subscribe", async {
        client
            .get_async_pubsub()
            .await
            .map_err(|e| ctx.error("subscribe", &e))
    })
    .await?;
    let (mut sink, mut stream) = pubsub.split();
    bounded(ctx, "subscribe", async {
        sink.subscribe(&ctx.keys.channel)
            .await
            .map_err(|e| ctx.error("subscribe", &e))
    })
    .await?;
    // Subscribed first, then read: nothing published in between is missed.
    bounded(ctx, "resync", resync(ctx, manager)).await?;
    ctx.set_connected(true);
    let period = ctx.settings.resync_interval;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else {
                    return Err(Error::new(ErrorKind::Transport, "Redis subscription closed"));
                };
                let payload: String = message.get_payload().unwrap_or_default();
                match parse_update(&payload) {
                    Some((seq, health, key)) => ctx.view.apply(key, seq, health),
                    None => tracing::debug!(payload = %payload, "ignoring a malformed health update"),
                }
            }
            _ = tick.tick() => {
                bounded(ctx, "ping", async {
                    tokio::time::timeout(limit, sink.ping::<String>())
                        .await
                        .map_err(|_| Error::timeout("Redis subscription ping timed out"))?
                        .map_err(|e| ctx.error("ping", &e))
                })
                .await?;
                bounded(ctx, "resync", resync(ctx, manager)).await?;
                ctx.set_connected(true);
            }
        }
    }
}

/// Reads the whole namespace into the view.
async fn resync(ctx: &Ctx, manager: &mut ConnectionManager) -> Result<()> {
    let start: Option<u64> = rds::cmd("GET")
        .arg(&ctx.keys.seq)
        .query_async(manager)
        .await
        .map_err(|e| ctx.error("resync", &e))?;
    let mut read = HashMap::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = rds::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&ctx.keys.pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(manager)
            .await
            .map_err(|e| ctx.error("resync", &e))?;
        if !keys.is_empty() {
            let mut pipe = rds::pipe();
            for key in &keys {
                pipe.cmd("HMGET")
                    .arg(key)
                    .arg("s")
                    .arg("f")
                    .arg("r")
                    .arg("u");
            }
            let rows: Vec<Vec<Option<u64>>> = pipe
                .query_async(manager)
                .await
                .map_err(|e| ctx.error("resync", &e))?;
            for (key, row) in keys.iter().zip(rows) {
                let field = |i: usize| row.get(i).copied().flatten();
                let (Some(seq), Some(target)) = (field(0), key.strip_prefix(&ctx.keys.records))
                else {
                    continue; // expired between SCAN and HMGET
                };
                let count = |i: usize| u32::try_from(field(i).unwrap_or(0)).unwrap_or(u32::MAX);
                let until = field(3).map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
                let health = health_of(count(1), count(2), until);
                read.insert(target.to_owned(), Entry { seq, health });
            }
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    ctx.view.replace(start, read);
    ctx.synced.send_modify(|count| *count += 1);
    Ok(())
}

/// Runs `operation` for at most the store's command timeout.
async fn bounded<T>(
    ctx: &Ctx,
    what: &str,
    operation: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(ctx.settings.op_timeout, operation).await {
        Ok(result) => result,
        Err(_) => Err(Error::timeout(format!(
            "Redis {} {what} timed out after {:?}",
            ctx.redacted_url, ctx.settings.op_timeout
        ))),
    }
}

// ===== helpers =====

/// A token unique to this process and call: probe lease holders and write
/// markers.
fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{nanos:x}-{n:x}", std::process::id())
}

/// The password of a Redis URL, raw and percent-decoded, for redaction.
fn password_of(url: &str) -> Option<Secret> {
    let parsed = url::Url::parse(url).ok()?;
    let password = parsed.password()?;
    let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
    Some(Secret::new(decoded.into_owned()))
}

/// The URL with any password replaced by `***`; an unparsable URL shows only
/// its scheme.
pub(super) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => {
            let scheme = url.split("://").next().filter(|s| s.len() < url.len());
            format!("{}://<unparsable>", scheme.unwrap_or("redis"))
        }
    }
}

/// Escapes Redis glob characters so a namespace matches itself only.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_never_show_the_password() {
        let url = "redis://user:hunter2-canary@127.0.0.1:6379/0";
        assert_eq!(redact_url(url), "redis://user:***@127.0.0.1:6379/0");
        assert!(!format!("{:?}", RedisStore::builder(url)).contains("hunter2"));
        assert!(!redact_url("redis://:hun%20ter2@h").contains("hun"));
        assert_eq!(redact_url("nonsense hunter2"), "redis://<unparsable>");
    }

    #[test]
    fn updates_parse_and_keys_may_hold_spaces() {
        let (seq, health, key) = parse_update("7 3 1 1700000000000 p/a b").unwrap();
        assert_eq!((seq, key), (7, "p/a b"));
        assert_eq!(health.consecutive_failures, 3);
        assert_eq!(
            health.benched_until,
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_000))
        );
        let (_, clean, _) = parse_update("8 0 0 - p/a").unwrap();
        assert!(clean.is_clean());
        assert!(parse_update("x 0 0 - p/a").is_none());
    }

    #[test]
    fn namespaces_are_matched_literally() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn the_view_ignores_stale_updates_and_resyncs() {
        let view = View::default();
        let benched = health_of(3, 1, Some(UNIX_EPOCH + Duration::from_secs(10)));
        view.apply("k", 5, benched);
        view.apply("k", 4, TargetHealth::default());
        assert_eq!(view.get("k"), Some(benched), "an older update loses");
        // A resync taken at seq 5 that no longer sees the key: it is gone.
        view.replace(Some(5), HashMap::new());
        assert_eq!(view.get("k"), None);
        // A newer update than the resync's start survives it.
        view.apply("k", 9, benched);
        view.replace(Some(8), HashMap::new());
        assert_eq!(view.get("k"), Some(benched));
        // A record the read saw, newer than the view's, wins.
        let read = HashMap::from([(
            "k".to_owned(),
            Entry {
                seq: 10,
                health: TargetHealth::default(),
            },
        )]);
        view.replace(Some(10), read);
        assert_eq!(view.get("k"), None);
        // No counter at all: Redis lost everything.
        view.apply("k", 11, benched);
        view.replace(None, HashMap::new());
        assert_eq!(view.get("k"), None);
    }
}
