//! Shared test helpers: start the real app, sign and post webhooks, wait for runs.

use std::time::Duration;

use tempfile::TempDir;
use triaged::{app::App, config::Config, ingest::signature};

/// The client secret tests sign with unless they say otherwise.
pub const SECRET: &str = "test-client-secret";

/// How long a test waits for the workers before failing.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running app with its own database in a temporary directory.
pub struct TestApp {
    pub app: App,
    pub base: String,
    pub client: reqwest::Client,
    /// Holds the database directory until the test ends.
    pub _dir: TempDir,
    /// The PostgreSQL databases of a test run with `TRIAGED_TEST_BACKEND=postgres`, dropped with
    /// the app.
    pub _pg: Vec<crate::postgres::TestPg>,
    /// The app's `TRIAGED_DATABASE_URL`, for running the CLI on its database.
    pub database_url: String,
}

/// Whether the test daemons run on PostgreSQL (`TRIAGED_TEST_BACKEND=postgres`: the CI matrix
/// step) rather than on a SQLite file.
pub fn on_postgres() -> bool {
    std::env::var("TRIAGED_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

impl TestApp {
    /// SQL for the milliseconds from the stored time `earlier` to `later` (two RFC 3339 text
    /// columns), in this app's database dialect.
    pub fn millis_between(&self, later: &str, earlier: &str) -> String {
        match self.app.db().backend() {
            triaged::store::Backend::Sqlite => {
                format!("((julianday({later}) - julianday({earlier})) * 86400000.0)")
            }
            triaged::store::Backend::Postgres => format!(
                "(EXTRACT(EPOCH FROM (({later})::timestamptz - ({earlier})::timestamptz)) * 1000.0)"
            ),
        }
    }

    /// SQL for the stored-time text of `seconds` ago, in this app's database dialect.
    pub fn ago(&self, seconds: u64) -> String {
        match self.app.db().backend() {
            triaged::store::Backend::Sqlite => {
                format!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{seconds} seconds')")
            }
            triaged::store::Backend::Postgres => format!("triaged_ago({seconds})"),
        }
    }
}

thread_local! {
    /// PostgreSQL databases [`test_config`] made on this test's thread, until [`spawn_app_with`]
    /// takes them over; one never used is dropped when the test's thread ends.
    static PG_DATABASES: std::cell::RefCell<Vec<crate::postgres::TestPg>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl TestApp {
    /// Posts `body` to the webhook endpoint with a signature made with `secret`.
    pub async fn post_signed_webhook_with(&self, secret: &str, body: &[u8]) -> reqwest::Response {
        self.client
            .post(format!("{}/webhooks/intercom", self.base))
            .header("content-type", "application/json")
            .header("x-hub-signature", signature::sign(secret.as_bytes(), body))
            .body(body.to_vec())
            .send()
            .await
            .expect("webhook request")
    }

    /// Posts `body` signed with [`SECRET`].
    pub async fn post_signed_webhook(&self, body: &[u8]) -> reqwest::Response {
        self.post_signed_webhook_with(SECRET, body).await
    }

    /// Waits (without sleeping) until every queued event has its finished run.
    pub async fn drain_queue(&self) {
        self.drain_queue_within(PATIENCE).await;
    }

    /// [`Self::drain_queue`] with a longer patience (a real model on one CPU thread).
    pub async fn drain_queue_within(&self, patience: Duration) {
        let drained = self
            .app
            .runner()
            .drain(patience)
            .await
            .expect("drain query");
        assert!(drained, "the queue did not drain within {patience:?}");
    }

    /// The `/metrics` page (process-wide: other tests' samples are in it too).
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics request")
            .text()
            .await
            .expect("metrics body")
    }

    /// `(count of runs, count of events)` straight from the database.
    pub async fn count(&self, sql: &str) -> i64 {
        triaged::with_pool!(self.app.db(), |p| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql.to_owned()
        ))
        .fetch_one(p)
        .await)
        .expect("count query")
    }
}

/// A configuration with a fresh database in `dir`, no playbooks (queue mechanics only), and a
/// built-in sandbox as Intercom.
pub fn test_config(dir: &TempDir, secrets: &[&str]) -> Config {
    let url = if on_postgres() {
        let pg = crate::postgres::TestPg::new_blocking();
        let url = pg.url.clone();
        PG_DATABASES.with_borrow_mut(|dbs| dbs.push(pg));
        url
    } else {
        format!("sqlite://{}", dir.path().join("triaged.db").display())
    };
    let mut config = Config::for_tests(url, secrets);
    let playbooks = dir.path().join("no-playbooks");
    std::fs::create_dir_all(&playbooks).expect("playbook dir");
    config.playbooks = playbooks;
    config
}

/// Starts the app with `config`.
pub async fn spawn_app_with(dir: TempDir, config: Config) -> TestApp {
    triaged::install_crypto_provider();
    let pg = PG_DATABASES.with_borrow_mut(std::mem::take);
    let database_url = config.database_url.clone();
    let app = App::start(config).await.expect("app starts");
    let base = format!("http://{}", app.addr());
    TestApp {
        app,
        base,
        client: reqwest::Client::new(),
        _dir: dir,
        _pg: pg,
        database_url,
    }
}

/// Starts the app with the default test configuration.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = test_config(&dir, &[SECRET]);
    spawn_app_with(dir, config).await
}

/// A notification envelope for `topic` about conversation `conversation_id`, with a unique id.
pub fn notification(id: &str, topic: &str, conversation_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "notification_event",
        "id": id,
        "topic": topic,
        "app_id": "a86dr8yl",
        "created_at": 1_734_537_561,
        "delivery_attempts": 1,
        "first_sent_at": 1_734_537_561,
        "data": {
            "type": "notification_event_data",
            "item": { "type": "conversation", "id": conversation_id }
        }
    }))
    .expect("json")
}

/// A payload from `../shared/intercom/examples/`.
pub fn example(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../shared/intercom/examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path} (shared/ sits beside the repo): {e}"))
}

/// The shipped playbook `name`, switched to `live` mode so its writes reach the sandbox.
pub fn shipped_live(name: &str) -> (String, String) {
    let path = format!("{}/playbooks/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (
        name.to_owned(),
        yaml.replacen("mode: draft", "mode: live", 1),
    )
}

/// Starts the app with these playbooks (name, YAML), the LLM at base URL `llm` (none: no LLM)
/// and this debounce window.
pub async fn spawn_scenario(
    playbooks: &[(String, String)],
    llm: Option<&str>,
    debounce: Duration,
) -> TestApp {
    spawn_scenario_with(playbooks, llm, debounce, |_| {}).await
}

/// [`spawn_scenario`], with a last word on the configuration.
pub async fn spawn_scenario_with(
    playbooks: &[(String, String)],
    llm: Option<&str>,
    debounce: Duration,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&dir, &[SECRET]);
    for (name, yaml) in playbooks {
        std::fs::write(config.playbooks.join(format!("{name}.yaml")), yaml).expect("playbook");
    }
    if let Some(llm) = llm {
        config.llm.base_url = llm.to_owned();
        config.llm.api_key = Some(secrecy::SecretString::from("scripted"));
        config.llm.model = "scripted-model".into();
    }
    config.debounce = debounce;
    adjust(&mut config);
    spawn_app_with(dir, config).await
}

impl TestApp {
    /// The built-in sandbox.
    pub fn sandbox(&self) -> &triaged::sandbox::Sandbox {
        self.app.sandbox().expect("the test app runs a sandbox")
    }

    /// Lets every notification reach the app and every run finish, including the echoes of the
    /// bot's own writes, without sleeping.
    pub async fn settle(&self) {
        self.settle_within(PATIENCE).await;
    }

    /// [`Self::settle`] with a longer patience.
    pub async fn settle_within(&self, patience: Duration) {
        for _ in 0..3 {
            self.sandbox().flush_webhooks().await;
            self.drain_queue_within(patience).await;
        }
    }

    /// The parts of a sandbox conversation (full state).
    pub fn parts(&self, conversation: &str) -> Vec<serde_json::Value> {
        let c = self
            .sandbox()
            .conversation(conversation)
            .expect("conversation");
        c["conversation_parts"]["conversation_parts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// How many internal notes of a sandbox conversation contain `text`.
    pub fn notes_containing(&self, conversation: &str, text: &str) -> usize {
        self.parts(conversation)
            .iter()
            .filter(|p| {
                p["part_type"] == "note" && p["body"].as_str().is_some_and(|b| b.contains(text))
            })
            .count()
    }

    /// The team a sandbox conversation is assigned to (its id; empty or `null` when none).
    pub fn team_assignee(&self, conversation: &str) -> String {
        let c = self
            .sandbox()
            .conversation(conversation)
            .expect("conversation");
        c["team_assignee_id"]
            .to_string()
            .trim_matches('"')
            .to_owned()
    }

    /// Bot comments (customer-visible replies) in a sandbox conversation.
    pub fn bot_replies(&self, conversation: &str) -> Vec<String> {
        let bot = self.app.identity().admin_id.to_string();
        self.parts(conversation)
            .into_iter()
            .filter(|p| {
                p["part_type"] == "comment" && p["author"]["id"].as_str() == Some(bot.as_str())
            })
            .map(|p| p["body"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// The python of a test venv: `$ENV_VAR` or `./DEFAULT_DIR` under the repository, created by
/// `SETUP_SCRIPT` when missing (the way `.ci/run` does). `None` only when there is no python3.
pub fn test_venv_python(
    env_var: &str,
    default_dir: &str,
    setup_script: &str,
) -> Option<std::path::PathBuf> {
    // One test at a time: `bin/python` exists long before the set-up has installed the packages,
    // so a second test must wait for the first one's set-up instead of taking the venv half-made.
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os(env_var)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(default_dir));
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        return None;
    }
    let status = std::process::Command::new("bash")
        .arg(root.join(setup_script))
        .current_dir(&root)
        .env(env_var, &venv)
        .status()
        .unwrap_or_else(|e| panic!("run {setup_script}: {e}"));
    assert!(status.success(), "{setup_script} failed");
    Some(python)
}
