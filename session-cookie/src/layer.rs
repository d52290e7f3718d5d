//! The tower layer: reads the cookie before the handler, writes back after it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response, StatusCode};
use session_core::{
    Commit, CookieAction, Error as CoreError, IdSigner, Record, Renewal, SessionConfig, SessionId,
    SessionStore, Verified, Write,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::cookies::{read_card, remove_card, set_card};
use crate::renewals::Known;
use crate::session::{drop_damaged, is_damage, LazySession, Loaded};
use crate::settings::{ConflictRetry, OnStoreError, Settings};

/// Adds server-side sessions to a tower service (an axum `Router`, a hyper 1
/// service, ...).
///
/// ```
/// use session_cookie::{MemoryStore, OnStoreError, SessionConfig, SessionLayer};
///
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
/// let layer = SessionLayer::new(MemoryStore::new(), config)
///     .on_store_error(OnStoreError::FailClosed);
/// # let _ = layer;
/// # Ok::<(), session_cookie::Error>(())
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    settings: Arc<Settings>,
}

impl SessionLayer {
    /// Sessions kept in `store`, configured by `config`.
    pub fn new(store: impl SessionStore, config: SessionConfig) -> Self {
        Self::from_arc(Arc::new(store), config)
    }

    /// Like [`new`](Self::new) with an already shared store.
    pub fn from_arc(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        Self {
            settings: Arc::new(Settings {
                cards: IdSigner::from_config(&config),
                store: Arc::new(session_core::telemetry::Instrumented::new(store)),
                config,
                on_store_error: OnStoreError::default(),
                conflict_retry: ConflictRetry::default(),
                renewals: Arc::default(),
            }),
        }
    }

    /// Sets what happens when the store fails at load (default: 503).
    #[must_use]
    pub fn on_store_error(mut self, policy: OnStoreError) -> Self {
        Arc::make_mut(&mut self.settings).on_store_error = policy;
        self
    }

    /// Sets how saves that lose to a concurrent request are retried.
    #[must_use]
    pub fn conflict_retry(mut self, retry: ConflictRetry) -> Self {
        Arc::make_mut(&mut self.settings).conflict_retry = retry;
        self
    }
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("config", &self.settings.config)
            .field("on_store_error", &self.settings.on_store_error)
            .field("conflict_retry", &self.settings.conflict_retry)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            settings: Arc::clone(&self.settings),
        }
    }
}

/// The service [`SessionLayer`] wraps around the inner service.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<&'static str> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let settings = Arc::clone(&self.settings);
        let read = read_card(
            req.headers(),
            settings.config.session_cookie(),
            &settings.cards,
        );
        let lazy = LazySession::new(settings, read);
        req.extensions_mut().insert(lazy.clone());
        // The clone that was driven to readiness serves this request. It is
        // called here, so that the boxed future holds the inner future
        // rather than the service and the request as well.
        let clone = self.inner.clone();
        let handled = std::mem::replace(&mut self.inner, clone).call(req);
        Box::pin(async move {
            let response = handled.await?;
            Ok(commit(&lazy, response).await)
        })
    }
}

/// Writes the session back after the handler and sets the cookie.
async fn commit<B: From<&'static str>>(
    lazy: &LazySession,
    mut response: Response<B>,
) -> Response<B> {
    let settings = &lazy.0.settings;
    if lazy.0.loaded.get().is_none() {
        // Never loaded: no store call at all. A session cookie that did not
        // verify is dead whatever the store holds, so it is cleared anyway;
        // one that verified is only known dead once a handler loads it.
        if lazy.0.presented && lazy.0.card.is_none() {
            remove_card(response.headers_mut(), &settings.config);
        }
        let Some(card) = lazy
            .0
            .card
            .as_ref()
            .filter(|_| settings.config.renewal() == Renewal::EveryRequest)
        else {
            return response;
        };
        // Renewal on every request: from what this process knows of the
        // session, without a store call inside its refresh window; a
        // session it knows nothing of is loaded once.
        if let Some(known) = settings.renewals.get(&card.id) {
            renew_known(settings, card, known, response.headers_mut()).await;
            return response;
        }
        if let Err(err) = lazy.load().await {
            // Logged by `load`; the handler's answer stands.
            tracing::debug!(
                key = %card.id.storage_key(),
                error = &err as &(dyn std::error::Error + 'static),
                "no renewal: the session could not be loaded"
            );
            return response;
        }
    }
    let Some(loaded) = lazy.0.loaded.get() else {
        return response;
    };
    // The handler is done: the lock is only taken briefly here, never across
    // an await.
    let lock = || loaded.lock().unwrap_or_else(PoisonError::into_inner);
    let (degraded, stored_expiry) = {
        let loaded = lock();
        let state = &loaded.state;
        (
            loaded.degraded,
            state.expires_at().filter(|_| state.is_stored()),
        )
    };
    let now = SystemTime::now();
    // The data moves into the write and back after it: never copied.
    let mut plan = lock().state.take_commit(&settings.config, now);
    if degraded {
        lock().state.put_back(&mut plan);
        if plan.write == Write::None && plan.delete.is_empty() {
            return response;
        }
        return failure(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable");
    }
    let result = execute(settings, &mut plan).await;
    lock().state.put_back(&mut plan);
    let (plan, written, now) = match result {
        Ok(written) => (plan, written, now),
        // The rare path, boxed so that every request's future stays small.
        Err(CoreError::VersionConflict) => match Box::pin(retry(lazy, loaded, plan)).await {
            Ok(done) => done,
            Err(failed) => return failed,
        },
        Err(CoreError::Vanished) => return vanished(settings, plan_key(&plan)),
        Err(err) => return store_failure(&err, plan_key(&plan)),
    };
    log_outcome(&plan);
    if settings.config.renewal() == Renewal::EveryRequest {
        remember(settings, lazy, &lock().state, &plan, written.as_ref(), now);
    }
    // The cookie's Max-Age counts from the write (`now`, when the plan was
    // made), like the store's expiry.
    let headers = response.headers_mut();
    match (plan.cookie, written) {
        (CookieAction::Set, Some((id, expires_at))) => {
            set_card(
                headers,
                &settings.config,
                &settings.cards,
                &id,
                (expires_at, plan.lifetime.persistent),
                now,
            );
        }
        (CookieAction::Remove, _) => remove_card(headers, &settings.config),
        (CookieAction::Set, None) => {
            // A renewal found the record gone (ended meanwhile): the cookie is
            // dead now.
            if lazy.0.presented {
                remove_card(headers, &settings.config);
            }
        }
        (CookieAction::Keep, _) => match (&lazy.0.card, stored_expiry) {
            // No session at the end of the request (the cookie was forged,
            // or its record expired, revoked, gone or damaged), and none was
            // created: the browser must stop sending the dead cookie.
            (_, None) if lazy.0.presented => remove_card(headers, &settings.config),
            // A cookie verified by a fallback key is re-issued under the current one.
            (Some(card), Some(expires_at)) if card.reissue => {
                set_card(
                    headers,
                    &settings.config,
                    &settings.cards,
                    &card.id,
                    (expires_at, plan.lifetime.persistent),
                    now,
                );
            }
            _ => {}
        },
    }
    response
}

/// Records what this request learnt about when its session expires (for
/// [`Renewal::EveryRequest`]), and forgets sessions it ended or cycled.
fn remember(
    settings: &Settings,
    lazy: &LazySession,
    state: &session_core::SessionState,
    plan: &Commit,
    written: Option<&(SessionId, SystemTime)>,
    now: SystemTime,
) {
    let renewals = &settings.renewals;
    for id in &plan.delete {
        renewals.forget(id);
    }
    let created_at = match &plan.write {
        Write::Create(record) | Write::Save(record) => Some(record.created_at),
        Write::Touch(..) | Write::None => state.created_at(),
    };
    let current = match (&plan.write, written) {
        (Write::None, _) => state.id().cloned().zip(state.expires_at()),
        (_, written) => written.cloned(),
    };
    match (current, created_at) {
        (Some((id, expires_at)), Some(created_at)) => renewals.put(
            &id,
            Known {
                expires_at,
                created_at,
                lifetime: plan.lifetime,
            },
            now,
        ),
        // The presented cookie found nothing (gone, ended meanwhile).
        _ => {
            if let Some(card) = &lazy.0.card {
                renewals.forget(&card.id);
            }
        }
    }
}

/// [`Renewal::EveryRequest`] for a request whose handler never loaded the
/// session: renews from what this process knows, with one `touch` once the
/// refresh window has passed and no store call before.
async fn renew_known(
    settings: &Settings,
    card: &Verified,
    known: Known,
    headers: &mut http::HeaderMap,
) {
    let config = &settings.config;
    let now = SystemTime::now();
    let next = known.lifetime.next_expiry(config, known.created_at, now);
    if !known
        .lifetime
        .needs_renewal(config, known.expires_at, next, now)
    {
        if card.reissue {
            let expiry = (known.expires_at, known.lifetime.persistent);
            set_card(headers, config, &settings.cards, &card.id, expiry, now);
        }
        return;
    }
    match settings.store.touch(&card.id, next).await {
        Ok(()) => {
            let renewed = Known {
                expires_at: next,
                ..known
            };
            settings.renewals.put(&card.id, renewed, now);
            let expiry = (next, known.lifetime.persistent);
            set_card(headers, config, &settings.cards, &card.id, expiry, now);
        }
        Err(CoreError::Vanished) => {
            // Ended or expired meanwhile: the cookie is dead.
            settings.renewals.forget(&card.id);
            remove_card(headers, config);
        }
        Err(err) => {
            // The handler's answer stands; the next request tries again.
            tracing::error!(
                key = %card.id.storage_key(),
                error = &err as &(dyn std::error::Error + 'static),
                "session store failed to renew a session"
            );
        }
    }
}

/// After a version conflict: a concurrent request of this session saved
/// first, so reload, re-apply this request's changes and save again, with
/// backoff, within the [`ConflictRetry`] bounds. Returns the plan that was
/// written, what it wrote and when it was planned, or the response to send.
async fn retry<B: From<&'static str>>(
    lazy: &LazySession,
    loaded: &Mutex<Loaded>,
    mut plan: Commit,
) -> Result<(Commit, Option<(SessionId, SystemTime)>, SystemTime), Response<B>> {
    let settings = &lazy.0.settings;
    let lock = || loaded.lock().unwrap_or_else(PoisonError::into_inner);
    let bounds = &settings.conflict_retry;
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        if attempt >= bounds.max_attempts || started.elapsed() >= bounds.max_time {
            session_core::telemetry::conflict_given_up(settings.store.as_ref());
            tracing::warn!(
                key = plan_id(&plan).map(SessionId::storage_key).as_deref(),
                attempts = attempt,
                "session save kept conflicting with concurrent requests; giving up"
            );
            return Err(failure(
                bounds.status,
                "the session was changed by concurrent requests; try again",
            ));
        }
        session_core::telemetry::conflict_retried(settings.store.as_ref());
        tokio::time::sleep(backoff(attempt)).await;
        let fresh = match plan_id(&plan).map(|id| settings.store.load(id)) {
            Some(load) => load.await,
            None => Ok(None),
        };
        match fresh {
            Ok(Some(fresh)) => {
                if let Err(err) = lock().state.rebase(fresh) {
                    return Err(store_failure(&err, plan_id(&plan)));
                }
            }
            Ok(None) => return Err(vanished(settings, plan_id(&plan))),
            // Damaged since this request loaded it: ended, like a vanished one.
            Err(err) if is_damage(&err) => {
                if let Some(id) = plan_id(&plan) {
                    drop_damaged(settings.store.as_ref(), id, &err).await;
                }
                return Err(vanished(settings, plan_id(&plan)));
            }
            Err(err) => return Err(store_failure(&err, plan_id(&plan))),
        }
        let now = SystemTime::now();
        plan = lock().state.take_commit(&settings.config, now);
        let result = execute(settings, &mut plan).await;
        lock().state.put_back(&mut plan);
        match result {
            Ok(written) => return Ok((plan, written, now)),
            Err(CoreError::VersionConflict) => {}
            Err(CoreError::Vanished) => return Err(vanished(settings, plan_id(&plan))),
            Err(err) => return Err(store_failure(&err, plan_id(&plan))),
        }
    }
}

/// Runs a commit plan: deletes, then the one write. Returns the ID and
/// expiry the cookie must carry, if a record was written.
async fn execute(
    settings: &Settings,
    plan: &mut Commit,
) -> Result<Option<(SessionId, SystemTime)>, CoreError> {
    let store = &settings.store;
    for id in &plan.delete {
        store.delete(id).await?;
    }
    match &mut plan.write {
        Write::None => Ok(None),
        Write::Create(record) => {
            create_fresh(store.as_ref(), record).await?;
            Ok(Some((record.id.clone(), record.expires_at)))
        }
        Write::Save(record) => {
            store.save(record).await?;
            Ok(Some((record.id.clone(), record.expires_at)))
        }
        Write::Touch(id, expires_at) => match store.touch(id, *expires_at).await {
            Ok(()) => Ok(Some((id.clone(), *expires_at))),
            // Ended meanwhile: nothing to renew, and a read-only request
            // still succeeded.
            Err(CoreError::Vanished) => Ok(None),
            Err(err) => Err(err),
        },
    }
}

/// The session a plan is about, for the log: the one written, else the
/// first one deleted.
fn plan_key(plan: &Commit) -> Option<&SessionId> {
    match &plan.write {
        Write::Create(record) | Write::Save(record) => Some(&record.id),
        Write::Touch(id, _) => Some(id),
        Write::None => plan.delete.first(),
    }
}

/// Logs the lifecycle events of a commit that was written, by storage key
/// only (never an ID, a cookie or data).
fn log_outcome(plan: &Commit) {
    if let Write::Create(record) = &plan.write {
        match plan.delete.first() {
            None => tracing::debug!(key = %record.id.storage_key(), "session created"),
            Some(old) => tracing::debug!(
                key = %record.id.storage_key(),
                old_key = %old.storage_key(),
                "session cycled: new ID, same data"
            ),
        }
    } else if plan.cookie == CookieAction::Remove {
        for id in &plan.delete {
            tracing::debug!(key = %id.storage_key(), "session destroyed");
        }
    }
}

/// The ID a versioned save was for.
fn plan_id(plan: &Commit) -> Option<&SessionId> {
    match &plan.write {
        Write::Save(record) => Some(&record.id),
        _ => None,
    }
}

/// Full-jitter exponential backoff: up to 1 ms × 2^attempt, capped at 32 ms.
fn backoff(attempt: u32) -> Duration {
    let cap_ms = 1u64 << attempt.min(5);
    Duration::from_micros(rand::random_range(0..cap_ms * 1000))
}

/// The session ended (logout elsewhere, expiry) while this request ran: its
/// changes cannot be kept, and the session is not resurrected.
fn vanished<B: From<&'static str>>(settings: &Settings, id: Option<&SessionId>) -> Response<B> {
    tracing::debug!(
        key = id.map(SessionId::storage_key).as_deref(),
        "the session ended while a request changing it ran; its changes are dropped"
    );
    let mut r = failure(
        StatusCode::CONFLICT,
        "the session ended while this request ran",
    );
    remove_card(r.headers_mut(), &settings.config);
    r
}

/// Creates the record, drawing a new ID on the (astronomically unlikely) conflict.
async fn create_fresh(store: &dyn SessionStore, record: &mut Record) -> Result<(), CoreError> {
    for _ in 0..3 {
        match store.create(record).await {
            Err(CoreError::Conflict) => record.id = SessionId::generate(),
            other => return other,
        }
    }
    Err(CoreError::Conflict)
}

fn store_failure<B: From<&'static str>>(err: &CoreError, id: Option<&SessionId>) -> Response<B> {
    tracing::error!(
        key = id.map(SessionId::storage_key).as_deref(),
        error = err as &(dyn std::error::Error + 'static),
        "session store failed to write a session"
    );
    if err.is_unavailable() {
        failure(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable")
    } else {
        failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "session could not be saved",
        )
    }
}

fn failure<B: From<&'static str>>(status: StatusCode, message: &'static str) -> Response<B> {
    let mut r = Response::new(B::from(message));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}
