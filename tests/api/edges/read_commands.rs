//! Read commands (`events list`, `runs list|show`, …) as the real binary: a malformed or missing
//! database is one line and exit 2 with no file created; an existing database is opened read-only;
//! enum arguments are checked by clap with the valid values listed; `bench` fails when nothing was
//! accepted.

use std::{
    os::unix::{fs::MetadataExt, fs::PermissionsExt, process::CommandExt},
    path::Path,
    process::{Command, Output},
};

use crate::helpers::{SECRET, notification, spawn_app_with, test_config};

/// `triaged ARGS…` in `dir` with `env`, with no inherited database or config setting.
pub(super) fn triaged(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_triaged"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("TRIAGED_CONFIG")
        .env_remove("TRIAGED_DATABASE_URL")
        .env("TRIAGED_LOG_FORMAT", "text");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub(super) fn run(mut cmd: Command) -> Output {
    cmd.output().expect("run triaged")
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(super) fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const READ_COMMANDS: [&[&str]; 5] = [
    &["events", "list"],
    &["runs", "list"],
    &["runs", "show", "1"],
    &["events", "list", "--json"],
    &["tokens", "list"],
];

#[test]
fn read_commands_refuse_a_malformed_database_url_with_one_line_and_exit_2_and_create_no_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    for url in [
        "garbage",
        "sqlite://",
        "",
        "postgres://",
        "mysql://db/triaged",
        "sqlite://missing.db",
    ] {
        for command in READ_COMMANDS {
            for via_flag in [false, true] {
                let out = if via_flag {
                    let mut args = command.to_vec();
                    args.extend(["--database-url", url]);
                    run(triaged(dir.path(), &args, &[]))
                } else {
                    run(triaged(
                        dir.path(),
                        command,
                        &[("TRIAGED_DATABASE_URL", url)],
                    ))
                };
                let err = stderr(&out);
                let what = format!("{command:?} with {url:?} (flag: {via_flag})");
                assert_eq!(out.status.code(), Some(2), "{what}: {err}");
                assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
                assert!(
                    err.starts_with("triaged: TRIAGED_DATABASE_URL"),
                    "{what}: {err}"
                );
                assert!(out.stdout.is_empty(), "{what}: no table is printed");
                assert_eq!(files_in(dir.path()), Vec::<String>::new(), "{what}");
            }
        }
    }
}

/// Runs `cmd` so that file permissions really apply: as `nobody` when the tests run as root
/// (root ignores permission bits), as the current user otherwise.
fn without_root(mut cmd: Command) -> Command {
    let euid = std::fs::metadata("/proc/self").expect("/proc/self").uid();
    if euid == 0 {
        cmd.uid(65_534).gid(65_534);
    }
    cmd
}

// SQLite only: a read-only directory, and the -wal/-shm files a reader must not create.
#[tokio::test]
async fn read_commands_read_a_database_in_a_read_only_directory_without_writing_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let url = format!("sqlite://{}", data.join("triaged.db").display());
    {
        let mut config = test_config(&dir, &[SECRET]);
        config.database_url.clone_from(&url);
        config.queue.workers = 0;
        let app = spawn_app_with(tempfile::tempdir().expect("temp dir"), config).await;
        let body = notification("notif_readonly_1", "conversation.user.replied", "77");
        assert_eq!(app.post_signed_webhook(&body).await.status(), 200);
        app.app.shutdown().await.expect("clean shutdown");
    }
    let db_file = data.join("triaged.db");
    let before = (files_in(&data), std::fs::read(&db_file).expect("db bytes"));
    let mode = |path: &Path, bits: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits)).expect("chmod");
    };
    mode(dir.path(), 0o755);
    mode(&db_file, 0o444);
    mode(&data, 0o555);

    let outputs: Vec<Output> = READ_COMMANDS
        .iter()
        .map(|command| {
            run(without_root(triaged(
                &data,
                command,
                &[("TRIAGED_DATABASE_URL", url.as_str())],
            )))
        })
        .collect();
    let after = (files_in(&data), std::fs::read(&db_file).expect("db bytes"));
    mode(&data, 0o755);

    for (command, out) in READ_COMMANDS.iter().zip(&outputs) {
        if *command == ["runs", "show", "1"] {
            assert_eq!(out.status.code(), Some(1), "no run 1: {}", stderr(out));
            assert_eq!(stderr(out).trim(), "triaged: no run 1");
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{command:?}: {}", stderr(out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        if command[0] == "events" {
            assert!(stdout.contains("conversation.user.replied"), "{stdout}");
        }
    }
    assert_eq!(before.0, after.0, "no -wal, -shm or other file appeared");
    assert!(
        before.1 == after.1,
        "the database file is byte for byte unchanged"
    );
}

#[test]
fn status_arguments_are_checked_by_clap_with_the_valid_values_listed() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (command, valid) in [
        (["events", "list"], "queued"),
        (["runs", "list"], "succeeded"),
    ] {
        let mut args = command.to_vec();
        args.extend(["--status", "bogus"]);
        let out = run(triaged(dir.path(), &args, &[]));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("invalid value 'bogus'"), "{err}");
        assert!(
            err.contains("possible values") && err.contains(valid),
            "{err}"
        );
        assert_eq!(files_in(dir.path()), Vec::<String>::new());
    }
}

#[test]
fn bench_refuses_a_url_that_is_not_one_and_fails_when_nothing_was_accepted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = [("INTERCOM_CLIENT_SECRET", "s")];
    let out = run(triaged(
        dir.path(),
        &["bench", "webhooks", "--url", "not a url", "--count", "1"],
        &secret,
    ));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a url"), "{}", stderr(&out));

    // A port nothing listens on: every request fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let out = run(triaged(
        dir.path(),
        &["bench", "webhooks", "--url", &url, "--count", "3"],
        &secret,
    ));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no notification was accepted"),
        "{}",
        stderr(&out)
    );
}
