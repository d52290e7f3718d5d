//! The hotel example's page (`GET /`) in headless Chromium, on the memory
//! store and on Redis: what a real browser does with the session cookie.
//!
//! Run alone: `cargo test -p session-tests --features redis --test browser`
//! (Chromium and chromedriver come from `CHROMIUM` / `CHROMEDRIVER`, else
//! `PATH`; a missing browser fails the test, naming what to install).
//! The memory run also saves the screenshot the README shows, docs/hotel.png.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cookie::SameSite;
use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use serde_json::Value;
use session_cookie::{MemoryStore, SessionConfig, SessionStore};
use session_tests::browser::Chromedriver;
use session_tests::hotel::{DEMO_EMAIL, DEMO_PASSWORD, REMEMBER_FOR};
use session_tests::{TestApp, SECRET};

/// Bound on one backend's whole run: a hung browser fails, never hangs.
const TEST_BOUND: Duration = Duration::from_secs(240);
/// Bound on one wait for the page to reach a state.
const WAIT: Duration = Duration::from_secs(20);

/// One browser run at a time: two Chromiums at once are plenty on 2 cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory() {
    let screenshot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/hotel.png");
    run(Arc::new(MemoryStore::new()), Some(screenshot)).await;
}

/// The same page and scenario against the actix-web hotel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_on_actix() {
    let test = run(Arc::new(MemoryStore::new()), None);
    session_tests::Adapter::Actix.run(test).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis() {
    run(session_tests::servers::redis_store("browser").await, None).await;
}

/// The page itself, over plain HTTP: HTML naming the demo account, and no
/// session work (no store call, no cookie), even for a logged-in browser.
#[tokio::test]
async fn page_is_static_html() {
    page_is_static_html_on_its_adapter().await;
    session_tests::Adapter::Actix
        .run(page_is_static_html_on_its_adapter())
        .await;
}

async fn page_is_static_html_on_its_adapter() {
    let config = SessionConfig::builder(SECRET).build().expect("config");
    let app = TestApp::hotel(Arc::new(MemoryStore::new()), config).await;
    assert_eq!(app.login().await.status(), reqwest::StatusCode::OK);
    let before = app.store.calls().total();
    let page = app.get("/").await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let kind = page.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap_or_default();
    assert_eq!(kind, "text/html; charset=utf-8");
    assert!(
        session_tests::set_cookies(page.headers()).is_empty(),
        "no Set-Cookie"
    );
    let html = page.text().await.expect("the page");
    assert!(html.contains(DEMO_EMAIL) && html.contains(DEMO_PASSWORD) && !html.contains("%DEMO_"));
    assert_eq!(
        app.store.calls().total(),
        before,
        "GET / costs no store call"
    );
}

async fn run(store: Arc<dyn SessionStore>, screenshot: Option<PathBuf>) {
    let _one = ONE_AT_A_TIME.lock().await;
    let config = SessionConfig::builder(SECRET)
        .build()
        .expect("valid test config");
    let app = TestApp::hotel(store, config.clone()).await;
    let driver = Chromedriver::start().await;
    let done = tokio::time::timeout(TEST_BOUND, scenario(&app, &driver, &config, screenshot)).await;
    assert!(
        done.is_ok(),
        "the browser test did not finish within {TEST_BOUND:?}; chromedriver's log:\n{}",
        driver.log()
    );
}

async fn scenario(
    app: &TestApp,
    driver: &Chromedriver,
    config: &SessionConfig,
    screenshot: Option<PathBuf>,
) {
    let name = config.session_cookie();

    // A wrong password: the form says so, and the jar stays empty.
    let a = Page::open(driver, app).await;
    a.submit_login("not-the-password", false).await;
    let error = a.wait_for("#login-error:not([hidden])").await;
    let error = error.text().await.expect("text");
    assert_eq!(error, "Invalid credentials", "the form shows why");
    assert!(
        a.cookie(name).await.is_none(),
        "a failed login sets no cookie"
    );
    assert!(a.visible("#login-form").await, "the form stays");

    // Log in through the form, "remember me" left unticked: the card in the
    // jar is what the config says, and ends with the browser.
    a.log_in(false).await;
    let card = a
        .cookie(name)
        .await
        .expect("after login the jar holds the session cookie");
    assert_eq!(
        card.http_only(),
        Some(true),
        "the session cookie is HttpOnly"
    );
    assert_eq!(card.same_site(), Some(SameSite::Lax), "SameSite=Lax");
    assert_eq!(card.path(), Some("/"), "Path=/");
    assert_ne!(card.secure(), Some(true), "no Secure without https_only");
    assert_eq!(
        card.expires_datetime(),
        None,
        "without \"remember me\" the cookie ends with the browser"
    );
    let readable = a.script("return document.cookie").await;
    let readable = readable.as_str().expect("document.cookie is a string");
    assert!(
        !readable.contains(&format!("{name}=")) && !readable.contains(card.value()),
        "page script can read the session cookie: {readable:?}"
    );

    // Reload: still logged in, and the visits counter goes up by one each time.
    let first = a.visits().await;
    for n in 1..=2 {
        assert_eq!(a.reload().await, "in", "still logged in after a reload");
        assert_eq!(a.visits().await, first + n, "visits after {n} reload(s)");
    }

    // A second, isolated browser logs in as the same user.
    let b = Page::open(driver, app).await;
    assert!(
        b.cookie(name).await.is_none(),
        "the second browser starts with an empty jar"
    );
    // It ticks "remember me": a persistent cookie for REMEMBER_FOR.
    let before = unix_now();
    b.log_in(true).await;
    let after = unix_now() + 1;
    let b_card = b.cookie(name).await.expect("the second browser's card");
    let expiry = b_card
        .expires_datetime()
        .expect("\"remember me\" gives a persistent cookie (Max-Age)")
        .unix_timestamp();
    let remember = i64::try_from(REMEMBER_FOR.as_secs()).expect("fits");
    assert!(
        (before + remember - 1..=after + remember).contains(&expiry),
        "the remembered cookie expires at {expiry}, not now + {remember} s = {}..={}",
        before + remember,
        after + remember
    );
    assert_ne!(
        b_card.value(),
        card.value(),
        "each browser has its own card"
    );
    assert_eq!(a.reload().await, "in");
    assert_eq!(
        a.count("#sessions > li").await,
        2,
        "both browsers are listed"
    );
    assert_eq!(
        a.count("#sessions > li.current").await,
        1,
        "one is this browser"
    );
    if let Some(path) = screenshot {
        a.screenshot(&path).await;
    }

    // "Log out everywhere else" in the first logs the second out.
    a.click("#logout-others").await;
    a.wait_for("body[data-state='in'] #sessions > li.current:only-child")
        .await;
    let notice = a.text("#notice").await;
    assert!(
        notice.contains("Logged out 1 other session"),
        "notice after logging out elsewhere: {notice:?}"
    );
    assert_eq!(
        b.reload().await,
        "out",
        "the second browser is logged out on its next reload"
    );
    assert!(b.visible("#login-form").await, "it shows the login form");
    assert_eq!(a.reload().await, "in", "the first browser stays logged in");

    // Logout removes the cookie from the jar and shows the login form again.
    a.click("#logout").await;
    a.wait_state("out").await;
    assert!(
        a.cookie(name).await.is_none(),
        "logout leaves the session cookie in the jar"
    );
    assert!(a.visible("#login-form").await && !a.visible("#account").await);
    assert_eq!(a.reload().await, "out", "still logged out after a reload");

    // A sibling cookie with a non-ASCII value, set by page script, must not
    // hide the session (browsers send it as UTF-8 bytes).
    a.log_in(false).await;
    let readable = a
        .script("document.cookie = 'pref=Zürich; path=/; SameSite=Lax'; return document.cookie")
        .await;
    assert!(
        readable.as_str().is_some_and(|c| c.contains("pref=Zürich")),
        "page script set pref=Zürich: {readable}"
    );
    assert_eq!(
        a.reload().await,
        "in",
        "a sibling cookie pref=Zürich logged the user out (issue 14, point 1)"
    );
    assert_eq!(a.text("#user-email").await, DEMO_EMAIL);

    a.close().await;
    b.close().await;
}

/// One browser on the hotel page, with the waits and reads the test needs.
/// The page's `body[data-state]` is `loading` while it talks to the server,
/// then `in`, `out` or `error`: every wait is on that, never a sleep.
struct Page {
    client: Client,
}

impl Page {
    async fn open(driver: &Chromedriver, app: &TestApp) -> Self {
        let client = driver.open().await;
        client.goto(&app.at("/")).await.expect("open the page");
        Self { client }
    }

    /// Waits until `css` matches; on a timeout, fails with what the page shows.
    async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "waited {WAIT:?} for {css:?} ({e}); {}",
                self.describe().await
            ),
        }
    }

    /// Waits until the page is done loading and returns its state.
    async fn settle(&self) -> String {
        let body = self
            .wait_for("body[data-state='in'], body[data-state='out'], body[data-state='error']")
            .await;
        let state = body
            .attr("data-state")
            .await
            .expect("data-state")
            .unwrap_or_default();
        assert_ne!(
            state,
            "error",
            "the page shows an error: {}",
            self.describe().await
        );
        state
    }

    /// Waits for the page to reach `state` (failing early on an error).
    async fn wait_state(&self, state: &str) {
        let reached = self
            .wait_for(&format!(
                "body[data-state='{state}'], body[data-state='error']"
            ))
            .await;
        let now = reached.attr("data-state").await.expect("data-state");
        assert_eq!(now.as_deref(), Some(state), "{}", self.describe().await);
    }

    async fn reload(&self) -> String {
        self.client.refresh().await.expect("reload");
        self.settle().await
    }

    /// Logs in as the demo guest by typing into the form, as a person would.
    /// Ticks "remember me" first when `remember`.
    async fn log_in(&self, remember: bool) {
        self.submit_login(DEMO_PASSWORD, remember).await;
        self.wait_state("in").await;
        assert_eq!(self.text("#user-email").await, DEMO_EMAIL);
    }

    /// Types the demo email and `password` into the shown form and submits it.
    /// Ticks "remember me" when `remember`.
    async fn submit_login(&self, password: &str, remember: bool) {
        assert_eq!(self.settle().await, "out", "the login form shows");
        let demo = self.text("#demo").await;
        assert!(
            demo.contains(DEMO_EMAIL) && demo.contains(DEMO_PASSWORD),
            "the page shows the demo account: {demo:?}"
        );
        for (field, value) in [("#email", DEMO_EMAIL), ("#password", password)] {
            let input = self.wait_for(field).await;
            input.clear().await.expect("clear");
            input.send_keys(value).await.expect("type");
        }
        let ticked = self
            .script("return document.getElementById('remember').checked")
            .await;
        if ticked.as_bool() != Some(remember) {
            self.click("#remember").await;
        }
        self.click("#login-submit").await;
    }

    async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("text")
    }

    async fn visible(&self, css: &str) -> bool {
        self.wait_for(css)
            .await
            .is_displayed()
            .await
            .expect("is displayed")
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .len()
    }

    async fn visits(&self) -> u64 {
        let text = self.text("#visits").await;
        text.parse()
            .unwrap_or_else(|_| panic!("visits is a number: {text:?}"))
    }

    async fn script(&self, js: &str) -> Value {
        self.client
            .execute(js, Vec::new())
            .await
            .expect("run page script")
    }

    /// The cookie named `name` in this browser's jar, for the page's URL.
    async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        let jar = self.client.get_all_cookies().await.expect("the cookie jar");
        jar.into_iter().find(|c| c.name() == name)
    }

    async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG screenshot");
        std::fs::create_dir_all(path.parent().expect("docs/")).expect("create docs/");
        std::fs::write(path, png).expect("save the screenshot");
    }

    /// The page's state and messages, for failure messages.
    async fn describe(&self) -> String {
        let js = "return [document.body.dataset.state, \
                  document.getElementById('notice').textContent, \
                  document.getElementById('login-error').textContent].join(' | ')";
        match self.client.execute(js, Vec::new()).await {
            Ok(v) => format!("page state | notice | login error: {v}"),
            Err(e) => format!("the page could not be read: {e}"),
        }
    }

    async fn close(self) {
        self.client.close().await.expect("close the browser");
    }
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(secs).expect("fits")
}
