//! Headless Chromium for the browser test, driven through WebDriver
//! (`chromedriver`, with [`fantoccini`]).
//!
//! [`Chromedriver::start`] finds the binaries (`CHROMIUM` and `CHROMEDRIVER`,
//! then `PATH`; missing ones fail the test naming what to install), runs
//! chromedriver on a free loopback port in a process group of its own, with
//! its temp files (Chromium profiles) in a directory of its own.
//! [`Chromedriver::open`] starts one browser per call: its own Chromium
//! process and profile, so its own cookie jar, isolated from the others.
//! Dropping the [`Chromedriver`], also when a test panics, kills the whole
//! process group (chromedriver and every Chromium it started) and removes the
//! directory. Chromium reaches nothing but loopback addresses: every other
//! host resolves to nothing and goes to a proxy that does not exist.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::servers::{free_port, unique_name};

/// What to do when the browser is missing.
const MISSING: &str = "the browser test needs headless Chromium and its WebDriver: install them \
    (Debian: `apt-get install -y chromium chromium-driver`) or set CHROMIUM and CHROMEDRIVER to \
    the binaries. scripts/test.sh finds them the same way, and installs them when CI=true";

/// Bound on chromedriver answering after it starts.
const START_BOUND: Duration = Duration::from_secs(30);

/// Chromium's flags: headless, quiet, and loopback only.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    // Chromium refuses to start as root without it (containers, CI); the
    // browser only ever loads the test's own page from 127.0.0.1.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=820,760",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
    "--lang=en-US",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-crash-reporter",
    "--disable-breakpad",
    // Nothing leaves the machine: other hosts do not resolve, and whatever
    // is not loopback (never proxied) goes to a proxy nobody listens on.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
];

/// A running chromedriver; see the [module docs](self).
#[derive(Debug)]
pub struct Chromedriver {
    child: Child,
    url: String,
    chromium: PathBuf,
    dir: PathBuf,
}

impl Chromedriver {
    /// Finds the binaries and starts chromedriver on a free loopback port.
    ///
    /// # Panics
    ///
    /// When Chromium or chromedriver is missing (the message says what to
    /// install), or chromedriver does not answer within 30 s.
    pub async fn start() -> Self {
        let chromium = find("CHROMIUM", &["chromium", "chromium-browser"]);
        let driver = find("CHROMEDRIVER", &["chromedriver"]);
        let dir = std::env::temp_dir().join(unique_name("keycard_browser"));
        std::fs::create_dir_all(&dir).expect("a temp dir for the browser");
        let log = File::create(dir.join("chromedriver.log")).expect("chromedriver's log file");
        let port = free_port();
        let spawned = {
            use std::os::unix::process::CommandExt as _;
            Command::new(&driver)
                .arg(format!("--port={port}"))
                // Chromium's profiles go here, removed with the directory.
                .env("TMPDIR", &dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("chromedriver's log file"))
                .stderr(log)
                // A group of its own, so that drop can kill every Chromium too.
                .process_group(0)
                .spawn()
        };
        let child = spawned
            .unwrap_or_else(|e| panic!("{} did not start ({e}); {MISSING}", driver.display()));
        let mut this = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            dir,
        };
        this.wait_ready().await;
        this
    }

    /// Polls chromedriver's `/status` until it is ready (a readiness check).
    async fn wait_ready(&mut self) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        let deadline = Instant::now() + START_BOUND;
        loop {
            if let Some(status) = self.child.try_wait().expect("chromedriver's status") {
                panic!(
                    "chromedriver exited ({status}) before answering; its log:\n{}",
                    self.log()
                );
            }
            if let Ok(reply) = http.get(format!("{}/status", self.url)).send().await {
                if let Ok(body) = reply.json::<Value>().await {
                    if body["value"]["ready"] == json!(true) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer at {} within {START_BOUND:?}; its log:\n{}",
                self.url,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new, isolated browser: its own Chromium process, profile and cookie jar.
    ///
    /// # Panics
    ///
    /// When chromedriver cannot start Chromium (the message carries its log).
    pub async fn open(&self) -> Client {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": self.chromium, "args": CHROMIUM_ARGS },
            // Bounds on each WebDriver command, so a hung page fails the test.
            "timeouts": { "pageLoad": 30_000, "script": 10_000, "implicit": 0 },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let capabilities: Capabilities = capabilities;
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start {} ({e}); its log:\n{}",
                    self.chromium.display(),
                    self.log()
                )
            })
    }

    /// The end of chromedriver's log, for failure messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text[start..].to_owned()
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The killed Chromiums are reaped by init; give them a moment to go
        // before their profiles are removed (bounded: drop must not hang).
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_alive(self.child.id()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `$var` when set (it must name a file), else the first of `names` on `PATH`.
fn find(var: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{var}={} is not a file; {MISSING}",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| panic!("none of {names:?} is on PATH and {var} is not set; {MISSING}"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// SIGKILL to the process group `pgid` (chromedriver's own: see `start`).
#[allow(unsafe_code)]
fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // SAFETY: kill(2) takes two integers and touches no memory of ours. The
    // group is chromedriver's, made by `process_group(0)`; its id cannot be
    // reused yet because chromedriver has not been reaped (waited for).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Whether any process of group `pgid` is still there.
#[allow(unsafe_code)]
fn group_alive(pgid: u32) -> bool {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    // SAFETY: as in `kill_group`; signal 0 only checks that the group exists.
    unsafe { libc::kill(-pgid, 0) == 0 }
}
