//! A browser without script, as the console's tests speak to it: a cookie jar, forms with
//! their CSRF tokens, no redirect followed.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;

use api::auth::Role;
use reqwest::{header, StatusCode};

use super::App;

/// The password [`user_with_password`] gives.
pub const PASSWORD: &str = "a long enough password";

/// A cookie jar and a client that does not follow redirects.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
}

/// What a page answered.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |l| l.to_str().unwrap())
    }

    /// The CSRF token of the page's form.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_owned()
    }
}

impl Browser {
    pub fn new(app: &App) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookies: BTreeMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn answer(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status,
            headers,
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.client.get(format!("{}{path}", self.base));
        self.answer(request).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        self.answer(request).await
    }

    pub async fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        let form = self.get("/console/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post(
            "/console/sign-in",
            &[("name", name), ("password", password), ("csrf", &csrf)],
        )
        .await
    }
}

pub async fn user_with_password(app: &App, name: &str, role: Role) {
    api::users::create_user(&app.log, name, role, "cli:test")
        .await
        .unwrap();
    api::users::set_password(&app.log, name, PASSWORD, "cli:test")
        .await
        .unwrap();
}
