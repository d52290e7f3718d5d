//! Throwaway database servers for the fault and TLS tests: started from the
//! locally installed binaries in a temp dir on a free loopback port, never
//! the shared servers; stopped and removed when the handle is dropped, even
//! while a failed assertion unwinds, and by a watchdog process if the test
//! process dies. A missing binary is a test failure naming it.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

#[cfg(feature = "mysql")]
mod mariadb;
#[cfg(feature = "postgres")]
mod postgres;

#[cfg(feature = "mysql")]
pub use mariadb::ThrowawayMariaDb;
#[cfg(feature = "postgres")]
pub use postgres::ThrowawayPostgres;

/// How long a start-up or restart may take before the test gives up.
pub const READY_WITHIN: Duration = Duration::from_secs(60);

/// A server the fault tests can stop and start again on the same data and
/// port, with the app using it left running.
pub trait Restartable: Send + Sync + 'static {
    /// Stops the server, closing open connections; returns once it is gone.
    /// Blocking.
    fn stop(&self);
    /// Starts it again on the same data and port; returns once it has been
    /// launched (see [`wait_ready`](Self::wait_ready)). Blocking.
    fn start_again(&self);
    /// Returns once the server accepts connections (polling; panics after
    /// [`READY_WITHIN`]).
    fn wait_ready(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
    /// The plain URL of the server's test database.
    fn url(&self) -> String;
}

/// The temp dir and the watchdog every throwaway server has.
///
/// The watchdog is a `sh` whose stdin is a pipe held here. Dropping this
/// (or the test process ending any other way) closes the pipe; the
/// watchdog then runs the server's stop command (twice, for a server that
/// was still starting) and removes the dir. It runs in its own process
/// group, so a Ctrl-C on the test does not kill it before it has cleaned up.
#[derive(Debug)]
pub(crate) struct Scratch {
    pub(crate) dir: PathBuf,
    /// `runuser -u USER --` when the server must not run as root.
    pub(crate) run_as: Vec<String>,
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

const WATCHDOG: &str = r#"
dir="$1"; stop="$2"
cat >/dev/null
sh -c "$stop" >/dev/null 2>&1
sleep 0.3
sh -c "$stop" >/dev/null 2>&1
rm -rf "$dir"
"#;

impl Scratch {
    /// A fresh dir named after `kind`, owned by the server's user (see
    /// [`server_user`]), and its watchdog, which runs `stop` (a shell
    /// command; `$dir` is the dir) on the way out.
    pub(crate) fn new(kind: &str, run_as: Vec<String>, stop: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "session-tests-{kind}-{}-{}",
            std::process::id(),
            crate::servers::unique_name("d")
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(format!("{kind}-watchdog"))
            .arg(&dir)
            .arg(stop)
            .env("dir", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `sh` for the {kind} watchdog: {e}"));
        let stdin = watchdog.stdin.take();
        let scratch = Self {
            dir,
            run_as,
            watchdog,
            stdin,
        };
        scratch.chown();
        scratch
    }

    /// Gives the dir and everything in it to the server's user.
    pub(crate) fn chown(&self) {
        if let Some(user) = self.run_as.get(2) {
            assert!(
                command_ok(Command::new("chown").args(["-R", user]).arg(&self.dir)),
                "cannot chown {} to {user}",
                self.dir.display()
            );
        }
    }

    /// Writes `contents` to `name` in the dir, readable by the server's
    /// user only (as PostgreSQL wants of a key file); returns the path.
    pub(crate) fn write_private(&self, name: &str, contents: &[u8]) -> PathBuf {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.dir.join(name);
        File::options()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(contents))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self.chown();
        path
    }

    /// A command running `exe` as the server's user.
    pub(crate) fn command(&self, exe: &Path) -> Command {
        match self.run_as.split_first() {
            Some((runner, rest)) => {
                let mut cmd = Command::new(runner);
                cmd.args(rest).arg(exe);
                cmd
            }
            None => Command::new(exe),
        }
    }

    /// Runs `exe` (as the server's user) to completion, its output in
    /// `<dir>/<name>.log`; panics with that log and `server_log` when it fails.
    pub(crate) fn run(&self, exe: &Path, args: &[&std::ffi::OsStr], server_log: &str) {
        let name = exe
            .file_name()
            .map_or("cmd".into(), |n| n.to_string_lossy());
        let log_path = self.dir.join(format!("{name}.log"));
        let log = self.log_file(&log_path);
        // Output to a file, never a pipe: a server would inherit it.
        let status = self
            .command(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a second handle on the log"))
            .stderr(log)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
        assert!(
            status.success(),
            "{} {args:?} failed ({status}):\n{}\n--- {server_log} ---\n{}",
            exe.display(),
            read(&log_path),
            read(&self.dir.join(server_log)),
        );
    }

    /// `path`, opened for appending (created if need be).
    pub(crate) fn log_file(&self, path: &Path) -> File {
        File::options()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
    }

    /// The text of `name` in the dir (empty if unreadable).
    pub(crate) fn read(&self, name: &str) -> String {
        read(&self.dir.join(name))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // EOF for the watchdog: it stops the server and removes the dir.
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// Polls `connect` (one attempt to connect and close, each given 1 s)
/// until it succeeds; panics after [`READY_WITHIN`] with `what`, `url`, the
/// last attempt and `log` (the server's log).
pub(crate) async fn poll_ready<F, Fut, E>(
    what: &str,
    url: &str,
    log: impl Fn() -> String,
    connect: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Debug,
{
    let deadline = std::time::Instant::now() + READY_WITHIN;
    loop {
        match tokio::time::timeout(Duration::from_secs(1), connect()).await {
            Ok(Ok(())) => return,
            other if std::time::Instant::now() > deadline => panic!(
                "{what} at {url} did not accept connections within {READY_WITHIN:?}: \
                 {other:?}\n--- server.log ---\n{}",
                log()
            ),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// `runuser -u USER --` when a server that refuses root (`non_root`:
/// PostgreSQL) must be started by tests running as root; the user is
/// `postgres` if it exists, else `nobody`.
pub(crate) fn server_user(non_root: bool) -> Vec<String> {
    if !(non_root && running_as_root()) {
        return Vec::new();
    }
    let user = if command_ok(Command::new("id").args(["-u", "postgres"])) {
        "postgres"
    } else {
        "nobody"
    };
    ["runuser", "-u", user, "--"].map(String::from).to_vec()
}

#[cfg(feature = "mysql")]
/// The first of `names` found on `PATH` or in `extra` dirs, else a panic
/// naming them and the package to install.
pub(crate) fn find_binary(names: &[&str], extra: &[&str], package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .collect();
    for name in names {
        for dir in &dirs {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found on PATH nor in {extra:?}: install it (Debian: apt-get install {package})",
        names.join(" / ")
    )
}

/// `true` when the test runs as root.
pub(crate) fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").map_or_else(
        |_| {
            Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
        },
        |m| m.uid() == 0,
    )
}

fn command_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn read(path: &Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    text
}

/// `'text'` for `sh`.
pub(crate) fn shell_quote(text: &std::ffi::OsStr) -> String {
    format!("'{}'", text.to_string_lossy().replace('\'', r"'\''"))
}
