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
    info(title = "backoffice", description = "Orders, payments and shipments of an event-sourced back office; the ERP's catalog, \
        the CRM's customer contacts and the daily sales, read-only. \
        Errors are RFC 9457 problem details. Every POST accepts an Idempotency-Key: the same key and body answer \
        the stored response for 24 hours; another body with the same key is a 422; a key still in flight a 409."),
    components(schemas(crate::problem::ProblemDetails)),
    modifiers(&Bearer),
    tags((name = "orders"), (name = "payments"), (name = "shipments"), (name = "catalog"), (name = "customers"), (name = "reports"), (name = "attention"), (name = "audit"), (name = "webhooks"), (name = "admin"))
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
/// media type they are sent with; and declares on every operation the 503 any request may
/// answer when it runs past the time-out.
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
            operation
                .responses
                .responses
                .entry("503".to_owned())
                .or_insert_with(|| {
                    utoipa::openapi::ResponseBuilder::new()
                        .description("Timed out (30 s), or a dependency is unavailable")
                        .content(
                            crate::problem::PROBLEM_JSON,
                            utoipa::openapi::ContentBuilder::new()
                                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                                .build(),
                        )
                        .build()
                        .into()
                });
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

fn add_path(
    document: &mut Document,
    path: impl Into<String>,
    item: utoipa::openapi::path::PathItem,
) {
    let path = path.into();
    match document.paths.paths.get_mut(&path) {
        Some(existing) => existing.merge_operations(item),
        None => {
            document.paths.paths.insert(path, item);
        }
    }
}

/// The routes the webhook inbox serves (its handlers live in `adapters`), described here so
/// that the document covers the whole router.
pub fn document_webhook_routes(document: &mut Document) {
    use utoipa::openapi::{
        path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem},
        request_body::RequestBodyBuilder,
        response::ResponseBuilder,
        ContentBuilder, ObjectBuilder, Ref, Required,
    };
    let problem = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build()
    };
    let object = || {
        ContentBuilder::new()
            .schema(Some(ObjectBuilder::new()))
            .build()
    };
    let json_response = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", object())
            .build()
    };
    let problem_response = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(crate::problem::PROBLEM_JSON, problem())
            .build()
    };
    let text_param = |name: &str, place: ParameterIn, required: bool| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(place)
            .required(if required {
                Required::True
            } else {
                Required::False
            })
            .schema(Some(
                ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
            ))
            .build()
    };
    for source in adapters::inbound::payload::Source::all() {
        let mut operation = OperationBuilder::new()
            .tag("webhooks")
            .summary(Some(format!(
                "Receives a signed {source} delivery into the inbox (docs/integrations/)"
            )))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", object())
                    .required(Some(Required::True))
                    .build(),
            ))
            .response(
                "200",
                json_response("A duplicate: already stored, not processed again"),
            )
            .response("202", json_response("Stored; processed asynchronously"))
            .response("400", problem_response("Not a payload of this source"))
            .response(
                "401",
                problem_response("Missing, malformed, stale or wrong signature; nothing stored"),
            )
            .response("413", problem_response("Over 1 MiB"))
            .response(
                "503",
                problem_response("No secret configured for this source, or storage unavailable"),
            );
        for header in source.signature_headers() {
            operation = operation.parameter(text_param(header, ParameterIn::Header, false));
        }
        add_path(
            document,
            format!("/webhooks/{source}"),
            PathItem::new(HttpMethod::Post, operation.build()),
        );
    }
    let admin = |summary: &str| {
        OperationBuilder::new()
            .tag("admin")
            .summary(Some(summary))
            .security(utoipa::openapi::security::SecurityRequirement::new::<
                &str,
                [&str; 0],
                &str,
            >("bearer", []))
            .response("401", problem_response("Authentication required"))
            .response("403", problem_response("Needs the admin permission"))
            .response("422", problem_response("A parameter is invalid"))
            .response("503", problem_response("Storage unavailable"))
    };
    let list = admin("Webhook deliveries by source and status, newest first")
        .parameter(text_param("source", ParameterIn::Query, false))
        .parameter(text_param("status", ParameterIn::Query, false))
        .parameter(text_param("cursor", ParameterIn::Query, false))
        .parameter(text_param("limit", ParameterIn::Query, false))
        .response("200", json_response("A page of deliveries"));
    add_path(
        document,
        "/api/v1/admin/webhooks/deliveries",
        PathItem::new(HttpMethod::Get, list.build()),
    );
    let one = |summary: &str| {
        admin(summary)
            .parameter(text_param("source", ParameterIn::Path, true))
            .parameter(text_param("event_id", ParameterIn::Path, true))
            .response("404", problem_response("No such delivery"))
    };
    add_path(
        document,
        "/api/v1/admin/webhooks/deliveries/{source}/{event_id}",
        PathItem::new(
            HttpMethod::Get,
            one("A delivery with its attempts and errors")
                .response("200", json_response("The delivery"))
                .build(),
        ),
    );
    add_path(
        document,
        "/api/v1/admin/webhooks/deliveries/{source}/{event_id}/retry",
        PathItem::new(
            HttpMethod::Post,
            one("Retries a dead, failed, unmatched or unmatched_expired delivery")
                .response("202", json_response("Due again"))
                .response("409", problem_response("Not retryable (pending or done)"))
                .build(),
        ),
    );
}
