//! The OpenAPI 3.1 document, generated from the handlers' annotations, and a docs page built
//! from it on the server: plain HTML, nothing fetched at build or run time (ADR 0008).

use std::fmt::Write as _;

use utoipa::{
    openapi::{
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        OpenApi as Document,
    },
    Modify, OpenApi,
};

/// The document's fixed parts; the paths come from the routes.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "backoffice", description = "Orders, payments and shipments of an event-sourced back office. \
        Errors are RFC 9457 problem details. Every POST accepts an Idempotency-Key: the same key and body answer \
        the stored response for 24 hours; another body with the same key is a 422; a key still in flight a 409."),
    components(schemas(crate::problem::ProblemDetails)),
    modifiers(&Bearer),
    tags((name = "orders"), (name = "payments"), (name = "shipments"), (name = "audit"))
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A page listing every operation of `document`, with a link to the JSON.
pub fn docs_page(document: &Document) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>backoffice API</title>\
         <style>body{font-family:sans-serif;max-width:60em;margin:2em auto}code{background:#eee}\
         td{padding:.3em .6em;vertical-align:top}</style></head><body><h1>backoffice API v1</h1>\
         <p>The machine-readable document: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>",
    );
    if let Some(description) = &document.info.description {
        let _ = write!(html, "<p>{}</p>", escape(description));
    }
    html.push_str("<table><tr><th>method</th><th>path</th><th>what</th></tr>");
    for (path, item) in &document.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                let summary = operation
                    .summary
                    .clone()
                    .or_else(|| operation.description.clone())
                    .unwrap_or_default();
                let _ = write!(
                    html,
                    "<tr><td><code>{method}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    escape(path),
                    escape(&summary)
                );
            }
        }
    }
    html.push_str("</table></body></html>");
    html
}

/// Error responses are problem details: declares them as `application/problem+json`, the
/// media type they are sent with.
pub fn declare_problem_media_type(document: &mut Document) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, response) in operation.responses.responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let (true, utoipa::openapi::RefOr::T(response)) = (is_error, response) {
                    if let Some(content) = response.content.shift_remove("application/json") {
                        response
                            .content
                            .insert(crate::problem::PROBLEM_JSON.to_owned(), content);
                    }
                }
            }
        }
    }
}
