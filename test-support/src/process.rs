//! What every throwaway server shares: a temp dir that a watchdog process
//! cleans up however the test ends, free loopback ports, the binaries to
//! run (a missing one fails the test, naming the package), and the OS user
//! a server that refuses root runs as.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// A temp dir for one group of servers, and its watchdog.
///
/// The watchdog is a `sh` whose stdin is a pipe held here. Dropping this,
/// or the test process ending any other way (a failed assertion, a panic,
/// `SIGKILL`: the kernel closes the pipe with the process), gives it
/// end-of-file; it then runs the servers' stop command (twice, for a server
/// that was still starting) and removes the dir. It runs in its own process
/// group, so a Ctrl-C on the test does not kill it before it has cleaned
/// up. This is what makes servers kept in a `static` safe: statics are
/// never dropped, but the pipe still closes when the test binary exits.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    /// `runuser -u USER --` when the server must not run as root.
    run_as: Vec<String>,
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

const WATCHDOG: &str = r#"
dir="$1"; stop="$2"
cat >/dev/null
if [ ! -e "$dir/stopped" ]; then
  sh -c "$stop" >/dev/null 2>&1
  sleep 0.3
  sh -c "$stop" >/dev/null 2>&1
fi
rm -rf "$dir"
"#;

/// The stop command of servers the test process spawned itself and
/// registered with [`Scratch::adopt`]: `SIGKILL` for each.
pub const KILL_ADOPTED: &str = "kill -KILL $(cat \"$dir/pids\") 2>/dev/null";

impl Scratch {
    /// A fresh dir named after `kind`, owned by the user of `run_as` (see
    /// [`server_user`]), and its watchdog, which runs `stop` (a shell
    /// command; `$dir` is the dir) on the way out.
    ///
    /// # Panics
    ///
    /// When the dir cannot be made or `sh` cannot run.
    pub fn new(kind: &str, run_as: Vec<String>, stop: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "keycard-test-{kind}-{}-{}",
            std::process::id(),
            crate::names::random_hex(6)
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

    /// The dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records `child`'s pid in `<dir>/pids`, for a [`KILL_ADOPTED`] stop.
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn adopt(&self, child: &Child) {
        let path = self.dir.join("pids");
        writeln!(self.log_file(&path), "{}", child.id())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Drops `child`'s pid from `<dir>/pids` once it has been waited for,
    /// so that the watchdog never signals a pid the system has reused.
    pub fn forget(&self, child: &Child) {
        let path = self.dir.join("pids");
        let pid = child.id().to_string();
        let kept: String = read(&path)
            .lines()
            .filter(|line| *line != pid)
            .map(|line| format!("{line}\n"))
            .collect();
        let _ = std::fs::write(&path, kept);
    }

    /// Tells the watchdog that the owner has stopped every server itself:
    /// on the way out it only removes the dir.
    pub fn mark_stopped(&self) {
        let _ = File::create(self.dir.join("stopped"));
    }

    /// Gives the dir and everything in it to the server's user.
    ///
    /// # Panics
    ///
    /// When `chown` fails.
    pub fn chown(&self) {
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
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn write_private(&self, name: &str, contents: &[u8]) -> PathBuf {
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
    pub fn command(&self, exe: &Path) -> Command {
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
    /// `<dir>/<name>.log`.
    ///
    /// # Panics
    ///
    /// When it fails, with that log and the server's log (`server_log`).
    pub fn run(&self, exe: &Path, args: &[&OsStr], server_log: &str) {
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
            self.read(server_log),
        );
    }

    /// `path`, opened for appending (created if need be).
    ///
    /// # Panics
    ///
    /// When it cannot be opened.
    pub fn log_file(&self, path: &Path) -> File {
        File::options()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
    }

    /// The text of `name` in the dir (empty if unreadable).
    pub fn read(&self, name: &str) -> String {
        read(&self.dir.join(name))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // End-of-file for the watchdog: it stops the servers and removes the dir.
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// A loopback port nothing listens on right now.
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A free loopback port whose Redis Cluster bus port (`port + 10000`) is
/// free too.
///
/// # Panics
///
/// When no such pair turns up in 100 tries.
pub fn free_port_with_bus() -> u16 {
    for _ in 0..100 {
        let port = free_port();
        if port < 55_000 && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port pair found");
}

/// The first of `names` found on `PATH` or in the `extra` dirs.
///
/// # Panics
///
/// When none is found, naming them and the Debian `package` to install.
pub fn find_binary(names: &[&str], extra: &[&str], package: &str) -> PathBuf {
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
    let also = if extra.is_empty() {
        String::new()
    } else {
        format!(" nor in {}", extra.join(", "))
    };
    panic!(
        "{} not found on PATH{also}: install it (Debian: apt-get install {package})",
        names.join(" / ")
    )
}

/// `runuser -u USER --` when a server that refuses root (`non_root`:
/// PostgreSQL) must be started by tests running as root; the user is
/// `postgres` if it exists, else `nobody`. Empty otherwise.
pub fn server_user(non_root: bool) -> Vec<String> {
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

/// `true` when the test runs as root.
pub fn running_as_root() -> bool {
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

/// The name of the user the test runs as (`root` if `id -un` says nothing).
pub fn user_name() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

/// `'text'` for `sh`.
pub fn shell_quote(text: &OsStr) -> String {
    format!("'{}'", text.to_string_lossy().replace('\'', r"'\''"))
}

fn command_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The text of the file at `path` (empty if unreadable).
pub fn read(path: &Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    text
}
