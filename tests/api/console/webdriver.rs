//! A small W3C WebDriver client over reqwest, for the console's real-browser test: Debian's
//! `chromium` driven by `chromedriver`, both started here and stopped by PID even when the test
//! fails. Only the dozen endpoints the test uses (a full client crate would add an HTTP stack and
//! a protocol crate to the build for no more than this).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::Engine;
use serde_json::{Value, json};

/// The element key of the W3C protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Headless Chromium under chromedriver; killed on drop.
pub struct Browser {
    driver: Child,
    profile: tempfile::TempDir,
    base: String,
    session: String,
    http: reqwest::Client,
    pub screenshots: PathBuf,
    shots: usize,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start(screenshots: &Path) -> Self {
        for binary in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: apt-get install -y chromium chromium-driver (.ci/run does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut driver = Command::new("/usr/bin/chromedriver")
            .args([
                format!("--port={port}"),
                "--allowed-ips=127.0.0.1".to_owned(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // Wait for its own "started successfully" line, not for a guessed delay.
        let stdout = driver.stdout.take().expect("chromedriver stdout");
        let ready = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let started = lines
                .by_ref()
                .map_while(Result::ok)
                .any(|l| l.contains("started successfully"));
            // Keep draining so chromedriver never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            started
        });
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Self {
            driver,
            profile,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http: reqwest::Client::new(),
            screenshots: screenshots.to_path_buf(),
            shots: 0,
        };
        let started = tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .expect("chromedriver starts within 30 s")
            .expect("reader");
        assert!(started, "chromedriver did not start");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([format!(
            "--user-data-dir={}",
            browser.profile.path().display()
        )])
        .collect::<Vec<_>>();
        let session = browser
            .call(
                reqwest::Method::POST,
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
                }}}),
            )
            .await;
        browser.session = session["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = self.http.request(method.clone(), &url);
        let request = if method == reqwest::Method::GET {
            request
        } else {
            request.json(&body)
        };
        let response = request.send().await.expect("webdriver request");
        let status = response.status();
        let value: Value = response.json().await.expect("webdriver json");
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value["value"].clone()
    }

    async fn session_call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body).await
    }

    /// Navigates to `url` and waits for the page to load (WebDriver's own wait).
    pub async fn goto(&self, url: &str) {
        self.session_call(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        let v = self
            .session_call(reqwest::Method::GET, "/url", Value::Null)
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Waits (bounded) until the browser's URL ends with `suffix`: a form submission's navigation
    /// may still be under way when the click returns. Returns the last URL seen.
    pub async fn wait_for_url(&self, suffix: &str) -> String {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let patience = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let url = self.url().await;
            if url.ends_with(suffix) || tokio::time::Instant::now() > patience {
                return url;
            }
            tick.tick().await;
        }
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        let v = self
            .session_call(reqwest::Method::GET, "/source", Value::Null)
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Every element matching the CSS selector.
    pub async fn all(&self, css: &str) -> Vec<String> {
        let v = self
            .session_call(
                reqwest::Method::POST,
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_array()
            .unwrap_or_else(|| panic!("find elements answered {v}"))
            .iter()
            .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
            .collect()
    }

    /// The first element matching the CSS selector.
    /// Waits for it (up to 30 s) as a person would: after a click, the URL can change before the
    /// new page has loaded.
    pub async fn find(&self, css: &str) -> String {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let patience = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(element) = self.all(css).await.into_iter().next() {
                return element;
            }
            if tokio::time::Instant::now() > patience {
                panic!("no element matches {css} in {}", self.source().await);
            }
            tick.tick().await;
        }
    }

    /// The rendered text of an element.
    pub async fn text(&self, element: &str) -> String {
        let v = self
            .session_call(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                Value::Null,
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    pub async fn click(&self, element: &str) {
        self.session_call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            json!({}),
        )
        .await;
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        self.session_call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Saves a PNG of the window as `NN-name.png`; returns its path.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let v = self
            .session_call(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        self.shots += 1;
        std::fs::create_dir_all(&self.screenshots).expect("screenshot dir");
        let path = self
            .screenshots
            .join(format!("{:02}-{name}.png", self.shots));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium's processes are the ones using this test's profile directory.
        let profile = self.profile.path().display().to_string();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&profile) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
