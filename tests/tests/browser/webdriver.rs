//! The few W3C WebDriver commands the browser tests use, over reqwest (ADR 0025), and
//! chromedriver started on a free port driving Debian's headless Chromium.
//!
//! Chromium and chromedriver are found on the `PATH` (or at `BACKOFFICE_CHROMIUM` and
//! `BACKOFFICE_CHROMEDRIVER`); missing, the tests fail saying how to install them: `.ci/run`
//! does (`apt-get install chromium chromium-driver`).

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    os::unix::{fs::MetadataExt, process::CommandExt},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::{json, Value};

/// The key W3C WebDriver names a web element's reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The viewport every session starts with (screenshots are this wide).
pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 800;

/// Keys as WebDriver codes them (the W3C spec's table).
pub mod key {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
}

/// What chromedriver refused, as W3C WebDriver names errors (`no such alert`, ...).
#[derive(Debug)]
pub struct WebDriverError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// A program the browser tests need: `$variable` if set, else `name` on the `PATH`; a test
/// fails, saying how to get it, if it is neither.
fn program(variable: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{variable}={} is not a file: the browser tests need Debian's chromium and \
             chromium-driver (`apt-get install chromium chromium-driver`, as .ci/run does)",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not on the PATH: the browser tests need Debian's chromium and \
                 chromium-driver (`apt-get install chromium chromium-driver`, as .ci/run does), \
                 or {variable} set to the program"
            )
        })
}

/// A chromedriver process; it ends (with its process group) when the last handle on it goes.
struct Process {
    child: Child,
    /// `127.0.0.1:port`.
    address: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        // Its own process group (see `Driver::start`): nothing else is signalled.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver on a free local port, and where Chromium is.
#[derive(Clone)]
pub struct Driver {
    process: Arc<Process>,
    chromium: PathBuf,
    client: reqwest::Client,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it says it is ready.
    pub async fn start() -> Self {
        let chromium = program("BACKOFFICE_CHROMIUM", "chromium");
        let chromedriver = program("BACKOFFICE_CHROMEDRIVER", "chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A group of its own, with the browsers it starts: ended together by its id.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        let process = Arc::new(Process {
            child,
            address: format!("127.0.0.1:{port}"),
        });
        let driver = Self {
            process,
            chromium,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = driver
                .client
                .get(format!("http://{}/status", driver.process.address))
                .send()
                .await;
            if let Ok(status) = status {
                let body: Value = status.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    return driver;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not get ready on port {port} within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new browser session: a headless Chromium with a profile of its own (its cookies, its
    /// sign-in), `WIDTH`×`HEIGHT`.
    pub async fn session(&self) -> Session {
        let profile = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("browser-profiles")
            .join(uuid::Uuid::now_v7().to_string());
        std::fs::create_dir_all(&profile).unwrap();
        let mut args = vec![
            "--headless=new".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-background-networking".to_owned(),
            "--no-first-run".to_owned(),
            "--mute-audio".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            "--lang=en-US".to_owned(),
            format!("--window-size={WIDTH},{HEIGHT}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        // Chromium's sandbox refuses to run as root (CI runs as root).
        if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
            args.push("--no-sandbox".to_owned());
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chromium, "args": args},
            "timeouts": {"script": 30_000, "pageLoad": 30_000, "implicit": 0},
        }}});
        let created = self
            .client
            .post(format!("http://{}/session", self.process.address))
            .json(&capabilities)
            .send()
            .await
            .unwrap();
        let body: Value = created.json().await.unwrap();
        let id = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver started no session: {body}"))
            .to_owned();
        Session {
            driver: self.clone(),
            id,
            profile,
        }
    }
}

/// One browser (a WebDriver session); closed when dropped.
pub struct Session {
    driver: Driver,
    id: String,
    profile: PathBuf,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Drop cannot wait on reqwest: a plain HTTP/1.1 DELETE, which closes the browser.
        let address = &self.driver.process.address;
        if let Ok(mut stream) = TcpStream::connect(address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                self.id
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                // Until the answer's head: the browser is closed by then (chromedriver keeps
                // the connection open whatever the request asked).
                let mut answer = Vec::new();
                let mut buffer = [0; 1024];
                while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => answer.extend_from_slice(&buffer[..n]),
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A web element's reference in its session.
#[derive(Debug, Clone)]
pub struct Element(pub String);

impl Element {
    fn from_value(value: &Value) -> Self {
        Self(
            value[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("not an element: {value}"))
                .to_owned(),
        )
    }
}

impl Session {
    /// Sends a command; answers its `value`, or the error WebDriver named.
    pub async fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let url = format!(
            "http://{}/session/{}{path}",
            self.driver.process.address, self.id
        );
        let mut request = self.driver.client.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let ok = response.status().is_success();
        let body: Value = response.json().await.unwrap_or_default();
        let value = body["value"].clone();
        if ok {
            Ok(value)
        } else {
            Err(WebDriverError {
                error: value["error"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    /// As [`Session::command`], failing the test on an error.
    async fn must(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.command(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    /// Loads `url` and waits for it to load.
    pub async fn navigate(&self, url: &str) {
        self.must(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The elements matching CSS `selector`.
    pub async fn find_all(&self, selector: &str) -> Vec<Element> {
        self.find_all_by("css selector", selector).await
    }

    /// The elements matching `value` by WebDriver's `using` strategy (`css selector`, `xpath`).
    pub async fn find_all_by(&self, using: &str, value: &str) -> Vec<Element> {
        let found = self
            .must(
                Method::POST,
                "/elements",
                Some(json!({ "using": using, "value": value })),
            )
            .await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(Element::from_value)
            .collect()
    }

    /// Clicks `element` (waiting for a navigation it starts).
    pub async fn click(&self, element: &Element) {
        self.must(
            Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .await;
    }

    /// Empties the field `element`.
    pub async fn clear(&self, element: &Element) {
        self.must(
            Method::POST,
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into `element` (focusing it first).
    pub async fn send_keys(&self, element: &Element, text: &str) {
        self.must(
            Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Presses and releases each of `keys` in turn on whatever has the focus, as a keyboard
    /// would (characters, or [`key`] codes).
    pub async fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.must(
            Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and answers what
    /// it returns. WebDriver's scripts are not the page's: its CSP does not apply to them.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.must(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// As [`Session::execute`], for a script that calls its last argument with its result.
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.must(
            Method::POST,
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The text of the open dialog (`alert`, `confirm`, `prompt`), or WebDriver's error:
    /// `no such alert` when there is none.
    pub async fn alert_text(&self) -> Result<Value, WebDriverError> {
        self.command(Method::GET, "/alert/text", None).await
    }

    /// Sets the window's size (the viewport, headless).
    pub async fn resize(&self, width: u32, height: u32) {
        self.must(
            Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let png = self.must(Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap()
    }

    /// The browser's cookie `name` (HttpOnly ones too), as `name=value`.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let cookie = self
            .command(Method::GET, &format!("/cookie/{name}"), None)
            .await
            .ok()?;
        Some(format!("{name}={}", cookie["value"].as_str()?))
    }
}
