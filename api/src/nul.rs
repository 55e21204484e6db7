//! Refuses a NUL character in a request's path or query string, the same on both backends:
//! PostgreSQL cannot store or compare text holding one (it answered such an id or filter with
//! a 500 on two dozen routes, SQLite with a 404), and no id, filter or cursor of ours has one.
//! A path holding one names nothing (404); a query parameter is a 422 naming it.

use axum::{extract::Request, middleware::Next, response::Response};

use crate::problem::Problem;

/// The middleware.
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    use axum::response::IntoResponse as _;
    let uri = request.uri();
    let path_has_nul = percent_decoded(uri.path().as_bytes()).contains(&0);
    if path_has_nul {
        return Problem::not_found("resource", "at a path holding a NUL character").into_response();
    }
    if let Some(query) = uri.query() {
        let bad = form_urlencoded::parse(query.as_bytes())
            .find(|(key, value)| key.contains('\0') || value.contains('\0'));
        if let Some((key, _)) = bad {
            let field = key.replace('\0', "");
            return Problem::validation(field, "a query parameter may not hold a NUL character")
                .into_response();
        }
    }
    next.run(request).await
}

/// `bytes` with `%XX` escapes decoded.
fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or_default() * 16 + hex(l).unwrap_or_default();
                out.push(u8::try_from(value).unwrap_or_default());
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// The JSON path (`lines[1].name`) of the first string in `value`, key or value, that holds a
/// NUL character: PostgreSQL's `jsonb` refuses `\u0000`.
pub fn nul_in_json(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &mut String) -> bool {
        match value {
            serde_json::Value::String(text) => text.contains('\0'),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Object(fields) => fields.iter().any(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key.replace('\0', ""));
                let found = key.contains('\0') || walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then_some(path)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_nul_in_a_json_string_is_found_by_its_path() {
        assert_eq!(nul_in_json(&json!({"a": "ok"})), None);
        assert_eq!(
            nul_in_json(&json!({"lines": [{"name": "ok"}, {"name": "x\u{0}"}]})),
            Some("lines[1].name".to_owned())
        );
        assert_eq!(
            nul_in_json(&json!({"a": {"b\u{0}": 1}})),
            Some("a.b".to_owned())
        );
        assert_eq!(percent_decoded(b"a%00b%zz"), b"a\0b%zz");
    }
}
