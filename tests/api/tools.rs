//! The tool layer over real HTTP against an in-process sandbox: every tool, argument validation,
//! the guard, the modes, a lost response, the `triaged tools` CLI, and the timeline's size.

use std::net::SocketAddr;

use secrecy::SecretString;
use serde_json::Value;
use tempfile::TempDir;
use triaged::{
    ids::AdminId,
    intercom::IntercomClient,
    playbook::Mode,
    sandbox::{DEMO_ACCESS_TOKEN, Sandbox, SandboxConfig},
    store::{
        Db, Durability,
        events::{self, EventStatus, NewEvent},
        runs,
    },
    tools::{
        ALL, ToolName,
        guard::{Reads, Scope},
        toolbox::Toolbox,
    },
};

mod calls;
mod caps;
mod cli;
mod guard;
mod modes;
mod reconcile;
mod timeline;

/// Demo ids (see `src/sandbox/demo_workspace.yaml`).
pub const REFUND: &str = "215000001";
pub const CHECKOUT: &str = "215000002";
pub const PRIYA: &str = "6762f1261bb69f9f21930001";
pub const DANIEL: &str = "6762f1261bb69f9f21930002";

/// A sandbox, a fresh database and a client acting as the sandbox's bot admin.
pub struct Rig {
    pub sandbox: Sandbox,
    pub db: Db,
    pub client: IntercomClient,
    pub bot: String,
    pub db_url: String,
    _test_db: crate::daemon::TestDb,
    pub _dir: TempDir,
}

impl Rig {
    pub async fn start() -> Rig {
        Self::start_with(|_| {}).await
    }

    /// [`Self::start`] with a last word on the sandbox's configuration.
    pub async fn start_with(change: impl FnOnce(&mut SandboxConfig)) -> Rig {
        triaged::install_crypto_provider();
        let mut config = SandboxConfig::demo(SocketAddr::from(([127, 0, 0, 1], 0)));
        change(&mut config);
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        let bot = sandbox.bot_admin_id();
        let client =
            IntercomClient::builder(sandbox.base_url(), SecretString::from(DEMO_ACCESS_TOKEN))
                .admin_id(Some(AdminId::from(bot.as_str())))
                .build()
                .expect("client");
        let dir = tempfile::tempdir().expect("temp dir");
        let test_db = crate::daemon::TestDb::new(dir.path()).await;
        let db_url = test_db.url.clone();
        let db = Db::open(&db_url, Durability::Normal).await.expect("db");
        db.migrate().await.expect("migrations");
        Rig {
            sandbox,
            db,
            client,
            bot,
            db_url,
            _test_db: test_db,
            _dir: dir,
        }
    }

    /// A new run (with the event its foreign key needs) about `conversation`.
    pub async fn run(&self, conversation: &str) -> i64 {
        let key = format!("test:{}", uuid_ish());
        let mut tx = self.db.begin_write().await.expect("tx");
        let event = match events::insert(
            &mut tx,
            &NewEvent {
                dedupe_key: &key,
                notification_id: None,
                topic: Some("conversation.user.created"),
                app_id: None,
                conversation_id: Some(conversation),
                created_at: None,
                delivery_attempts: None,
                status: EventStatus::Processed,
                parse_error: None,
                raw_body: b"{}",
            },
        )
        .await
        .expect("event")
        {
            events::Inserted::New(id) | events::Inserted::Duplicate(id) => id,
        };
        tx.commit().await.expect("commit");
        runs::start_or_resume(&self.db, event, Some(conversation), None, 1)
            .await
            .expect("run")
    }

    /// A toolbox for `run_id` in `mode`, scoped to `conversation` and its contact.
    pub fn toolbox(&self, run_id: i64, mode: Mode, scope: Scope) -> Toolbox {
        Toolbox::new(
            self.client.clone(),
            self.db.clone(),
            AdminId::from(self.bot.as_str()),
            run_id,
            mode,
            scope,
        )
    }

    /// The conversation's full state in the sandbox.
    pub fn conversation(&self, id: &str) -> Value {
        self.sandbox.conversation(id).expect("conversation exists")
    }

    /// Its parts.
    pub fn parts(&self, id: &str) -> Vec<Value> {
        self.conversation(id)["conversation_parts"]["conversation_parts"]
            .as_array()
            .expect("parts")
            .clone()
    }

    /// Parts by the bot of `part_type`.
    pub fn bot_parts(&self, id: &str, part_type: &str) -> Vec<Value> {
        self.parts(id)
            .into_iter()
            .filter(|p| p["part_type"] == part_type && p["author"]["id"] == self.bot.as_str())
            .collect()
    }
}

/// The scope of a run on `conversation` with `contact`, allowing `tools` (reads limited to the
/// conversation, the default).
pub fn scope(conversation: &str, contact: &str, tools: &[ToolName], max_replies: u32) -> Scope {
    Scope::conversation(conversation, vec![contact.to_owned()])
        .allowing(tools.iter().copied())
        .replies(max_replies)
}

/// Every tool allowed, reads reaching the whole workspace, one reply.
pub fn all_tools(conversation: &str, contact: &str) -> Scope {
    scope(conversation, contact, ALL, 1).reading(Reads::Workspace)
}

fn uuid_ish() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Unix seconds now.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
