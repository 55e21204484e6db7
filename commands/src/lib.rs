//! Command handling: load a stream, decide, append; idempotency; process managers.
