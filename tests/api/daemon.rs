//! Runs the real `triaged` binary as a child process and follows its JSON log lines, so tests can
//! wait for "listening", "run finished" and exit without sleeping. [`TestDb`] gives such a test its
//! database on the CI matrix's backend, and a [`Db`] to watch what the process writes.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};
use triaged::store::{Backend, Db, Durability};

use crate::{
    helpers::{PATIENCE, SECRET, on_postgres},
    postgres::TestPg,
};

/// The database of a test that runs `triaged` as a process: a SQLite file in the test's
/// directory or, with `TRIAGED_TEST_BACKEND=postgres`, a fresh PostgreSQL database of its own
/// (dropped with this value, so declare it before the daemons that use it).
#[derive(Debug)]
pub struct TestDb {
    /// The daemon's `TRIAGED_DATABASE_URL`.
    pub url: String,
    /// Where the daemon's empty playbook folder goes.
    dir: PathBuf,
    _pg: Option<TestPg>,
}

impl TestDb {
    /// The test's database in `dir` on the matrix's backend.
    pub async fn new(dir: &Path) -> Self {
        if on_postgres() {
            Self::postgres(TestPg::new().await, dir)
        } else {
            Self::sqlite(&dir.join("triaged.db"))
        }
    }

    /// [`Self::new`] from synchronous code (it may run inside a test's runtime).
    pub fn new_blocking(dir: &Path) -> Self {
        if on_postgres() {
            Self::postgres(TestPg::new_blocking(), dir)
        } else {
            Self::sqlite(&dir.join("triaged.db"))
        }
    }

    /// A SQLite file at `path`, whatever the matrix says (tests of SQLite itself).
    pub fn sqlite(path: &Path) -> Self {
        Self {
            url: format!("sqlite://{}", path.display()),
            dir: path.parent().expect("the file's directory").to_owned(),
            _pg: None,
        }
    }

    /// This PostgreSQL database (several daemons may share it).
    pub fn postgres(pg: TestPg, dir: &Path) -> Self {
        Self {
            url: pg.url.clone(),
            dir: dir.to_owned(),
            _pg: Some(pg),
        }
    }

    /// The database at `url`, which the caller owns (replicas sharing one PostgreSQL database).
    pub fn at(url: &str, dir: &Path) -> Self {
        Self {
            url: url.to_owned(),
            dir: dir.to_owned(),
            _pg: None,
        }
    }

    pub fn backend(&self) -> Backend {
        Backend::of_url(&self.url)
    }

    /// A handle on the database for checking rows while daemons write to it (query it with
    /// `triaged::with_pool!` and SQL both backends accept: `$1` placeholders). On SQLite the file
    /// must exist: open it once a daemon has started.
    pub async fn watch(&self) -> Db {
        Db::open(&self.url, Durability::Normal)
            .await
            .unwrap_or_else(|e| panic!("watch {}: {e}", self.url))
    }

    /// The name of apalis's job table on this backend.
    pub fn jobs_table(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "Jobs",
            Backend::Postgres => "apalis.jobs",
        }
    }
}

/// A `triaged serve` child process.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    /// The built-in sandbox's base URL, when there is one.
    pub sandbox: Option<String>,
    /// The log lines up to and including "triaged is listening".
    pub startup: Vec<Value>,
    lines: mpsc::UnboundedReceiver<Value>,
}

impl Daemon {
    /// Starts `triaged serve --sandbox` (a built-in Intercom on port 0) on port 0 with the
    /// database `db`, plus `env`.
    pub async fn start(db: &TestDb, env: &[(&str, &str)]) -> Self {
        Self::start_with(&["serve", "--sandbox"], db, env).await
    }

    /// Starts `triaged ARGS…` (a serve command) and waits until it listens.
    pub async fn start_with(args: &[&str], db: &TestDb, env: &[(&str, &str)]) -> Self {
        let no_playbooks = db.dir.join("no-playbooks");
        std::fs::create_dir_all(&no_playbooks).expect("playbook dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_triaged"));
        command
            .args(args)
            .env_clear()
            .env("TRIAGED_PLAYBOOKS", &no_playbooks)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TRIAGED_DATABASE_URL", &db.url)
            .env("TRIAGED_LISTEN", "127.0.0.1:0")
            .env("TRIAGED_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("INTERCOM_CLIENT_SECRET", SECRET)
            .env("SANDBOX_LISTEN", "127.0.0.1:0")
            .env("TRIAGED_POLL_INTERVAL", "20ms")
            .env("TRIAGED_DEBOUNCE", "0s")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn triaged");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "raw": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut daemon = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            sandbox: None,
            startup: Vec::new(),
            lines,
        };
        let mut seen = Vec::new();
        while !seen
            .iter()
            .any(|l: &Value| l["fields"]["message"] == "triaged is listening")
        {
            seen.extend(daemon.next_lines(1).await);
        }
        daemon.sandbox = seen
            .iter()
            .find(|l| l["fields"]["message"] == "running against the built-in Intercom sandbox")
            .and_then(|l| l["fields"]["sandbox"].as_str())
            .map(str::to_owned);
        daemon.addr = seen
            .iter()
            .find(|l| l["fields"]["message"] == "triaged is listening")
            .and_then(|l| l["fields"]["addr"].as_str())
            .and_then(|a| a.parse().ok())
            .expect("listening line carries the address");
        daemon.startup = seen;
        daemon
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next `count` log lines, whatever they say.
    async fn next_lines(&mut self, count: usize) -> Vec<Value> {
        let mut lines = Vec::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while lines.len() < count {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("waited {PATIENCE:?} for triaged to log"))
                .unwrap_or_else(|| panic!("triaged exited while starting"));
            if let Some(raw) = line.get("raw") {
                eprintln!("triaged: {raw}");
            }
            lines.push(line);
        }
        lines
    }

    /// Waits until `count` log lines with this message have been seen; returns them.
    pub async fn wait_for_message(&mut self, message: &str, count: usize) -> Vec<Value> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while seen.len() < count {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "waited {PATIENCE:?} for {count} × {message:?}, saw {}",
                        seen.len()
                    )
                })
                .unwrap_or_else(|| panic!("triaged exited before {count} × {message:?}"));
            if let Some(raw) = line.get("raw") {
                eprintln!("triaged: {raw}");
            }
            if line["fields"]["message"] == message {
                seen.push(line);
            }
        }
        seen
    }

    /// The process id (lease owners and apalis worker names carry it).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// SIGKILL: no chance to clean up.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL");
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub async fn terminate(self) -> Option<i32> {
        self.send_sigterm();
        self.wait_exit().await
    }

    /// Sends SIGTERM and returns at once (the daemon drains; see [`Self::wait_exit`]).
    pub fn send_sigterm(&self) {
        self.signal("-TERM");
    }

    /// SIGSTOP: the process is frozen where it stands (a stalled VM, a GC pause, a debugger).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT: a paused process carries on as if nothing happened.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// SIGTERM, waits for the exit, and returns every log line not read yet.
    pub async fn terminate_collecting(mut self) -> Vec<Value> {
        self.send_sigterm();
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("exits within the patience window")
            .expect("wait");
        let mut lines = Vec::new();
        // The reader ends at the pipe's end of file, closing the channel.
        while let Ok(Some(line)) = tokio::time::timeout(PATIENCE, self.lines.recv()).await {
            lines.push(line);
        }
        lines
    }

    /// Waits for the process to exit; returns the exit code.
    pub async fn wait_exit(mut self) -> Option<i32> {
        let exit = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("exits within the patience window")
            .expect("wait");
        // Shown by the test runner only when the test fails.
        while let Ok(line) = self.lines.try_recv() {
            if let Some(raw) = line.get("raw") {
                eprintln!("triaged: {raw}");
                continue;
            }
            eprintln!(
                "triaged: {} {} {}",
                line["timestamp"].as_str().unwrap_or_default(),
                line["fields"]["message"].as_str().unwrap_or_default(),
                line["fields"]
            );
        }
        exit.code()
    }
}
