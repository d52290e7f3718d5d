//! A test server on a real loopback port and a real HTTP client, on either
//! adapter: the tower/axum one (session-cookie) or actix-web's
//! (session-actix), chosen per test by [`Adapter::run`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::Response;
use session_cookie::{OnStoreError, Session, SessionConfig};

use crate::CountingStore;

/// The web framework a test's apps run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// session-cookie's `SessionLayer` on an axum `Router`.
    Axum,
    /// session-actix's `SessionMiddleware` on an actix-web `App`.
    Actix,
}

tokio::task_local! {
    static ADAPTER: Adapter;
}

impl Adapter {
    /// Runs `test`: every app it starts through [`AppSpec`] (and so
    /// [`TestApp::hotel`]) runs on this adapter.
    pub async fn run<F: Future>(self, test: F) -> F::Output {
        ADAPTER.scope(self, test).await
    }

    /// The adapter of the running test: axum outside [`run`](Self::run).
    pub fn current() -> Self {
        ADAPTER.try_with(|a| *a).unwrap_or(Self::Axum)
    }

    /// What the extractor's error names as the fix when the session layer
    /// (middleware) is missing.
    pub fn layer_fix(self) -> &'static str {
        match self {
            Self::Axum => "SessionLayer::new",
            Self::Actix => "SessionMiddleware::new",
        }
    }
}

/// A route a test adds to the hotel: it takes the session, runs the hook
/// (side effects on the store, say), and inserts the `(key, value)` the
/// hook returns, answering `changed`.
pub type Hook = Arc<dyn Fn() -> (&'static str, u64) + Send + Sync>;

/// A test's app, served on the running test's [`Adapter`]: the hotel with
/// the suites' routes, on a counting store.
pub struct AppSpec {
    pub(crate) store: Arc<CountingStore>,
    pub(crate) config: SessionConfig,
    pub(crate) on_store_error: OnStoreError,
    pub(crate) layer: bool,
    pub(crate) hook: Option<(&'static str, Hook)>,
}

impl std::fmt::Debug for AppSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSpec")
            .field("layer", &self.layer)
            .field("on_store_error", &self.on_store_error)
            .finish_non_exhaustive()
    }
}

impl AppSpec {
    /// The hotel on `store`, configured by `config`, with the session layer
    /// and its default policies.
    pub fn new(store: Arc<CountingStore>, config: SessionConfig) -> Self {
        Self {
            store,
            config,
            on_store_error: OnStoreError::default(),
            layer: true,
            hook: None,
        }
    }

    /// Sets the layer's policy for a store that fails at load.
    pub fn on_store_error(mut self, policy: OnStoreError) -> Self {
        self.on_store_error = policy;
        self
    }

    /// No session layer at all (a mistake the extractor must name).
    pub fn without_layer(mut self) -> Self {
        self.layer = false;
        self
    }

    /// Adds `POST path` running `hook` (see [`Hook`]).
    pub fn hook(
        mut self,
        path: &'static str,
        hook: impl Fn() -> (&'static str, u64) + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some((path, Arc::new(hook)));
        self
    }

    /// Starts it on the running test's adapter.
    pub async fn serve(self) -> TestApp {
        match Adapter::current() {
            Adapter::Axum => self.serve_axum().await,
            Adapter::Actix => crate::on_actix::serve(self),
        }
    }

    async fn serve_axum(self) -> TestApp {
        let mut router = crate::expiry_suite::routes()
            .merge(crate::suite::extra_routes())
            .merge(crate::hotel::routes());
        if let Some((path, hook)) = self.hook {
            let hooked = move |session: Session| async move {
                let (key, value) = hook();
                session.insert(key, &value).map(|()| "changed")
            };
            router = router.route(path, post(hooked));
        }
        if self.layer {
            let layer = session_cookie::SessionLayer::from_arc(self.store.clone(), self.config)
                .on_store_error(self.on_store_error);
            router = router.layer(layer);
        }
        TestApp::serve(router, self.store).await
    }
}

/// A running app and a cookie-jar client for it.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The store behind the app, counting calls.
    pub store: Arc<CountingStore>,
    /// A client that keeps cookies like a browser.
    pub client: reqwest::Client,
    /// A client without cookies, for replaying raw values.
    pub bare: reqwest::Client,
    /// The server's task; ending it stops the server (on actix-web, its
    /// workers too).
    task: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// Serves `router` (already layered) on a free loopback port.
    pub async fn serve(router: Router, store: Arc<CountingStore>) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("server");
        });
        Self::running(url, store, task)
    }

    /// The app serving `url` from the server task `task`.
    pub(crate) fn running(
        url: String,
        store: Arc<CountingStore>,
        task: tokio::task::JoinHandle<()>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        Self {
            url,
            store,
            client,
            bare: reqwest::Client::new(),
            task,
        }
    }

    /// The hotel app with `config` on `store` (wrapped for counting), plus
    /// the suites' extra routes, on the running test's [`Adapter`].
    pub async fn hotel(
        store: Arc<dyn session_cookie::SessionStore>,
        config: SessionConfig,
    ) -> Self {
        AppSpec::new(CountingStore::new(store), config)
            .serve()
            .await
    }

    /// Another browser: a fresh cookie jar.
    pub fn new_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client")
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Logs the jar client in as the demo guest.
    pub async fn login(&self) -> Response {
        self.client
            .post(self.at("/login"))
            .json(&serde_json::json!({ "email": crate::hotel::DEMO_EMAIL, "password": crate::hotel::DEMO_PASSWORD }))
            .send()
            .await
            .expect("POST /login")
    }

    /// GET `path` with the jar client.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.at(path)).send().await.expect("GET")
    }

    /// POST `path` with the jar client.
    pub async fn post(&self, path: &str) -> Response {
        self.client.post(self.at(path)).send().await.expect("POST")
    }

    /// GET `path` sending exactly `cookie` as the `Cookie` header.
    pub async fn get_with(&self, path: &str, cookie: &str) -> Response {
        self.send_with(reqwest::Method::GET, path, cookie.as_bytes())
            .await
    }

    /// `method` `path` sending exactly `cookie` as the `Cookie` header, as
    /// bytes: browsers send UTF-8 in cookie values.
    pub async fn send_with(&self, method: reqwest::Method, path: &str, cookie: &[u8]) -> Response {
        let value = reqwest::header::HeaderValue::from_bytes(cookie).expect("a valid header value");
        self.bare
            .request(method, self.at(path))
            .header(COOKIE, value)
            .send()
            .await
            .expect("request")
    }

    /// Logs a fresh, cookieless client in as the demo guest and returns its
    /// `session=…` pair.
    pub async fn login_card(&self) -> String {
        let r = self.login_with(None).await;
        assert_eq!(r.status(), reqwest::StatusCode::OK, "login failed");
        cookie_value(r.headers()).expect("login sets the cookie")
    }

    /// `POST /login` as the demo guest from a cookieless client, sending
    /// `cookie` (a `session=…` pair) if given.
    pub async fn login_with(&self, cookie: Option<&str>) -> Response {
        let mut request = self.bare.post(self.at("/login"));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request
            .json(&serde_json::json!({ "email": crate::hotel::DEMO_EMAIL, "password": crate::hotel::DEMO_PASSWORD }))
            .send()
            .await
            .expect("POST /login")
    }

    /// Sends `cookie` to `method` `path` and checks the status and that the
    /// response clears the `session` cookie (see [`is_removal`]).
    ///
    /// # Panics
    ///
    /// When either does not hold.
    pub async fn assert_clears(
        &self,
        cookie: &str,
        method: reqwest::Method,
        path: &str,
        status: reqwest::StatusCode,
    ) {
        let r = self.send_with(method, path, cookie.as_bytes()).await;
        assert_eq!(r.status(), status, "{path} with {cookie:.40}");
        assert!(
            is_removal(r.headers(), "session"),
            "{path} did not clear {cookie:.40}: {:?}",
            set_cookies(r.headers())
        );
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ASCII Set-Cookie").to_owned())
        .collect()
}

/// `true` when the response carries exactly one `Set-Cookie`, the removal
/// of `name` (empty value, `Max-Age=0`, `Path=/`), and `Cache-Control:
/// no-store`.
pub fn is_removal(headers: &HeaderMap, name: &str) -> bool {
    let set = set_cookies(headers);
    set.len() == 1
        && set[0].starts_with(&format!("{name}=;"))
        && set[0].contains("Max-Age=0")
        && set[0].contains("Path=/")
        && headers
            .get(reqwest::header::CACHE_CONTROL)
            .is_some_and(|v| v == "no-store")
}

/// The `name=value` pair of the first `Set-Cookie` of a response.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    set_cookies(headers)
        .first()
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}
