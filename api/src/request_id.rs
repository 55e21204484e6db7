//! A client's `X-Request-Id` is kept only when it is a plausible id: at most 128 characters of
//! letters, digits and `-_.:/+=~`. Any other (a 60 KB header, one with spaces or quotes) is
//! dropped, so that a fresh id is made: the id becomes the correlation id stored in the
//! metadata of every event the request causes, for good.

use axum::{extract::Request, middleware::Next, response::Response};

/// The longest request id kept.
pub const MAX_LEN: usize = 128;

/// The middleware, in front of the layer that takes or makes the id.
pub async fn drop_invalid(mut request: Request, next: Next) -> Response {
    let valid = request
        .headers()
        .get("x-request-id")
        .map(|value| is_valid(value.as_bytes()));
    if valid == Some(false) {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// Whether `id` is kept.
pub fn is_valid(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=~".contains(b))
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn only_a_short_plain_id_is_kept() {
        assert!(is_valid(b"3f2a-request_1.2:x"));
        assert!(is_valid(uuid::Uuid::now_v7().to_string().as_bytes()));
        for id in [&b""[..], b"a b", b"\"x\"", &[b'a'; 129][..], "é".as_bytes()] {
            assert!(!is_valid(id), "{id:?}");
        }
    }
}
