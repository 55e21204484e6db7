//! A person at a browser: what the console's browser tests do with a page, in a person's words
//! (`sign_in`, `fill`, `click_button`, `text`), and what they check on it (no dialog, axe-core,
//! keyboard, a screenshot).

// Helpers for the scenarios to come (cancel, four-eyes refunds, retries) too.
#![allow(dead_code)]

use std::{
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::webdriver::{key, Driver, Session, HEIGHT, WIDTH};

/// One person's browser on the console of the app at `base`.
pub struct Person {
    pub session: Session,
    base: String,
}

/// What the page's keyboard focus is on, as [`Person::focused`] answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focus {
    /// Its place among the page's elements (two links may say the same).
    pub index: u64,
    /// `input#name`, `button "Sign in"`, `a "Orders"`.
    pub what: String,
    /// The computed `outline-style`, and whether the outline shows (not `none`, wider than 0).
    pub outline: String,
    pub visible: bool,
}

/// `describe(e)`: an element as [`Focus`] has it, with its computed outline.
const DESCRIBE: &str = "function describe(e) {
  const tag = e.tagName.toLowerCase();
  const label = e.id ? '#' + e.id : ' \"' + (e.innerText || e.value || '').trim() + '\"';
  const style = getComputedStyle(e);
  const visible = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const index = [...document.querySelectorAll('*')].indexOf(e);
  return {index, what: tag + label, outline: style.outlineStyle + ' ' + style.outlineWidth, visible};
}";

impl Focus {
    fn from_value(focus: &Value) -> Self {
        Self {
            index: focus["index"].as_u64().unwrap(),
            what: focus["what"].as_str().unwrap().to_owned(),
            outline: focus["outline"].as_str().unwrap().to_owned(),
            visible: focus["visible"].as_bool().unwrap(),
        }
    }
}

impl Person {
    /// A new browser of its own (cookies, session) on `driver`, for the app at `base`.
    pub async fn new(driver: &Driver, base: &str) -> Self {
        Self {
            session: driver.session().await,
            base: base.to_owned(),
        }
    }

    /// Opens `path` of the console (`/console/orders`).
    pub async fn open(&self, path: &str) {
        self.session.navigate(&format!("{}{path}", self.base)).await;
    }

    /// Opens the sign-in page, fills in `name` and `password` and signs in.
    pub async fn sign_in(&self, name: &str, password: &str) {
        self.open("/console/sign-in").await;
        self.fill("name", name).await;
        self.fill("password", password).await;
        self.click_button("Sign in").await;
    }

    /// Signs in as [`Person::sign_in`] does, and fails unless the dashboard opens.
    pub async fn signed_in(driver: &Driver, base: &str, name: &str, password: &str) -> Self {
        let person = Self::new(driver, base).await;
        person.sign_in(name, password).await;
        assert_eq!(
            person.path().await,
            "/console",
            "{name} was not signed in: {}",
            person.text().await
        );
        person
    }

    /// Fills the form field whose `name` attribute is `field` with `value` (emptied first).
    pub async fn fill(&self, field: &str, value: &str) {
        let selector = format!("[name=\"{field}\"]");
        let found = self.session.find_all(&selector).await;
        let [element] = found.as_slice() else {
            panic!(
                "{} fields named {field} on {}: {}",
                found.len(),
                self.path().await,
                self.text().await
            );
        };
        self.session.clear(element).await;
        self.session.send_keys(element, value).await;
    }

    /// Clicks the one button whose text is `text` and waits for the page its form leads to.
    pub async fn click_button(&self, text: &str) {
        self.click_one("button", text).await;
    }

    /// Clicks the one link whose text is `text` and waits for its page.
    pub async fn click_link(&self, text: &str) {
        self.click_one("a", text).await;
    }

    /// Clicks the one `tag` saying `text` and waits (up to 30 s) for the page it leads to: a
    /// click does not always wait for the navigation it starts.
    async fn click_one(&self, tag: &str, text: &str) {
        assert!(!text.contains('\''), "a text without ': {text}");
        let found = self
            .session
            .find_all_by("xpath", &format!("//{tag}[normalize-space()='{text}']"))
            .await;
        let [element] = found.as_slice() else {
            panic!(
                "{} <{tag}> \"{text}\" on {}: {}",
                found.len(),
                self.path().await,
                self.text().await
            );
        };
        self.js("window.clickedFrom = true;").await;
        self.session.click(element).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let loaded = self
                .js("return !window.clickedFrom && document.readyState === 'complete';")
                .await;
            if loaded == true {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "<{tag}> \"{text}\" led to no new page within 30 s: {}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many buttons say `text`.
    pub async fn buttons(&self, text: &str) -> usize {
        self.session
            .find_all_by("xpath", &format!("//button[normalize-space()='{text}']"))
            .await
            .len()
    }

    /// Runs `script` in the page (a function body) and answers what it returns.
    pub async fn js(&self, script: &str) -> Value {
        self.session.execute(script, json!([])).await
    }

    /// How many elements match CSS `selector`.
    pub async fn count(&self, selector: &str) -> u64 {
        self.session
            .execute(
                "return document.querySelectorAll(arguments[0]).length;",
                json!([selector]),
            )
            .await
            .as_u64()
            .unwrap()
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.js("return document.body.innerText;")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The text of the page's `h1`.
    pub async fn h1(&self) -> String {
        self.js("const h = document.querySelector('h1'); return h ? h.innerText : '';")
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The page's path and query (`/console/orders?status=placed`).
    pub async fn path(&self) -> String {
        self.js("return location.pathname + location.search;")
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits (up to 30 s) until the page's path is `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.path().await;
            if now == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still on {now}, not {path}: {}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails if a dialog (`alert`, `confirm`, `prompt`) is open: WebDriver must answer that
    /// there is no such alert.
    pub async fn assert_no_dialog(&self) {
        match self.session.alert_text().await {
            Err(e) if e.error == "no such alert" => {}
            other => panic!("a dialog is open on {}: {other:?}", self.base),
        }
    }

    /// The browser's cookie header for the console (its session's cookie), for requests made
    /// beside the browser.
    pub async fn cookie_header(&self) -> String {
        self.session.cookie("bo_session").await.unwrap_or_default()
    }

    /// Presses `keys` on whatever has the focus ([`key::TAB`], [`key::ENTER`], characters).
    pub async fn press(&self, keys: &str) {
        self.session.press(keys).await;
    }

    /// What has the keyboard focus; nothing if the page itself has it.
    pub async fn focused(&self) -> Option<Focus> {
        let focus = self
            .js(&format!(
                "{DESCRIBE}\nconst e = document.activeElement;
                 return !e || e === document.body ? null : describe(e);"
            ))
            .await;
        (!focus.is_null()).then(|| Focus::from_value(&focus))
    }

    /// Presses Tab until `what` has the focus (at most 30 times); fails if it never does.
    pub async fn tab_to(&self, what: &str) -> Focus {
        let mut seen = Vec::new();
        for _ in 0..30 {
            self.press(key::TAB).await;
            let focus = self.focused().await;
            if let Some(focus) = focus.filter(|f| f.what == what) {
                return focus;
            }
            seen.push(self.focused().await);
        }
        panic!("Tab never reached {what}; it went through {seen:?}");
    }

    /// Every control the keyboard reaches from the top of the page, in order, pressing Tab
    /// twice as often as the page has controls (a date's day, month and year are stops of
    /// their own) and noting each focus as it comes; each with whether its focus shows.
    pub async fn tab_through(&self) -> Vec<Focus> {
        // Loaded again: Tab starts from the top, not from where a blurred focus was.
        let url = self.js("return location.href;").await;
        self.session.navigate(url.as_str().unwrap()).await;
        let presses = 2 * self.controls().await.len() + 4;
        self.js(&format!(
            "{DESCRIBE}\nwindow.focusesSeen = [];
             document.addEventListener('focusin', e => window.focusesSeen.push(describe(e.target)));"
        ))
        .await;
        self.press(&key::TAB.repeat(presses)).await;
        let seen = self.js("return window.focusesSeen;").await;
        let mut reached: Vec<Focus> = Vec::new();
        for focus in seen.as_array().unwrap() {
            let focus = Focus::from_value(focus);
            if !reached.iter().any(|r| r.index == focus.index) {
                reached.push(focus);
            }
        }
        reached
    }

    /// The controls of the page a keyboard should reach, described as [`Focus::what`] does.
    pub async fn controls(&self) -> Vec<(u64, String)> {
        let found = self
            .js("const all = [...document.querySelectorAll('*')];
                 return [...document.querySelectorAll(
                   'a[href], button, input:not([type=hidden]), select, textarea')]
                 .filter(e => !e.disabled && e.getClientRects().length > 0)
                 .map(e => [all.indexOf(e), e.tagName.toLowerCase()
                   + (e.id ? '#' + e.id : ' \"' + (e.innerText || e.value || '').trim() + '\"')]);")
            .await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_u64().unwrap(), c[1].as_str().unwrap().to_owned()))
            .collect()
    }

    /// Fails unless Tab reaches every control of the page and each shows its focus.
    pub async fn assert_keyboard_works(&self, page: &str) {
        let reached = self.tab_through().await;
        let controls = self.controls().await;
        let reached_what: Vec<&str> = reached.iter().map(|f| f.what.as_str()).collect();
        for (index, control) in &controls {
            assert!(
                reached.iter().any(|f| f.index == *index),
                "{page}: Tab never reaches {control}; it reaches {reached_what:?}"
            );
        }
        for focus in &reached {
            assert!(
                focus.visible,
                "{page}: the focus on {} does not show (outline {})",
                focus.what, focus.outline
            );
        }
    }

    /// The serious and critical violations axe-core finds on the page, as `rule: nodes`
    /// lines (the moderate and minor ones are printed, not answered).
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let script = format!(
            "{}\n;const done = arguments[arguments.length - 1];
             axe.run(document, {{resultTypes: ['violations']}})
               .then(r => done(r.violations.map(v => ({{id: v.id, impact: v.impact,
                 help: v.help, nodes: v.nodes.map(n => n.html)}}))))
               .catch(e => done({{error: String(e)}}));",
            axe_source()
        );
        let found = self.session.execute_async(&script, json!([])).await;
        let violations = found
            .as_array()
            .unwrap_or_else(|| panic!("axe-core did not run: {found}"));
        let mut serious = Vec::new();
        for v in violations {
            let line = format!(
                "{} ({}): {} {}",
                v["id"], v["impact"], v["help"], v["nodes"]
            );
            if v["impact"] == "serious" || v["impact"] == "critical" {
                serious.push(line);
            } else {
                eprintln!("axe-core, {}: {line}", self.path().await);
            }
        }
        serious
    }

    /// Saves a PNG of the whole page as `{name}.png` in `BACKOFFICE_SCREENSHOTS` if set (for
    /// docs/console), else under the build's temporary directory.
    pub async fn screenshot(&self, name: &str) {
        // From the top, nothing focused, the window as tall as the page (plus what the window
        // takes beside the page).
        let size = self
            .js(
                "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);
                 return [document.documentElement.scrollHeight, outerHeight - innerHeight];",
            )
            .await;
        let height = size[0].as_u64().unwrap_or(0) + size[1].as_u64().unwrap_or(0);
        let height = u32::try_from(height).unwrap_or(HEIGHT).max(HEIGHT);
        self.session.resize(WIDTH, height).await;
        let png = self.session.screenshot().await;
        self.session.resize(WIDTH, HEIGHT).await;
        let dir = screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// Where screenshots go: `BACKOFFICE_SCREENSHOTS`, else the build's temporary directory.
pub fn screenshots() -> PathBuf {
    std::env::var_os("BACKOFFICE_SCREENSHOTS").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        |dir| {
            // Relative to the workspace, as typed there (cargo runs tests in the crate's
            // directory).
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("..")
                    .join(dir)
            }
        },
    )
}

/// axe-core's script: `BACKOFFICE_AXE` if set, else where `.ci/run` installs it from npm
/// (`target/npm/node_modules/axe-core/axe.min.js`); a test fails if it is missing.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = std::env::var_os("BACKOFFICE_AXE").map_or_else(
            || {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/npm/node_modules/axe-core/axe.min.js")
            },
            PathBuf::from,
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is not at {} ({e}): the browser tests need it from npm \
                 (`npm install --prefix target/npm axe-core@4.14.1`, as .ci/run does), \
                 or BACKOFFICE_AXE set to its axe.min.js",
                path.display()
            )
        })
    })
}
