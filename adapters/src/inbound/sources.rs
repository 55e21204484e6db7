//! Every system that sends us webhooks, declared once: its name (in URLs, the configuration and
//! the inbox), how it signs, and how a delivery's inbox key and plan are read from its body.
//! Adding a source is its payload module (`payload/`, with its `SOURCE`, `inbox_key` and
//! `parse`), its plan (`worker/plan.rs`) and one line here; a new signature scheme, a module in
//! `signature/` (docs/architecture.md).

use crate::inbound::{
    payload::{crm, easypost, erp, stripe, InboxKey, PayloadError, Source},
    signature::Scheme,
    worker::plan::{self, Plan},
};

/// A source's declaration.
#[derive(Debug)]
pub(crate) struct SourceSpec {
    /// Its name.
    pub source: Source,
    /// How it signs.
    pub scheme: Scheme,
    /// The inbox key of a verified delivery, given the message id its signature covers (where
    /// the scheme signs one; a scheme that does always returns it, and an empty id is refused as
    /// unusable).
    pub inbox_key: fn(Option<&str>, &[u8]) -> Result<InboxKey, PayloadError>,
    /// What a delivery asks of the back office.
    pub plan: fn(&[u8]) -> Result<Plan, PayloadError>,
}

/// Every webhook source.
pub(crate) const SOURCES: &[SourceSpec] = &[
    SourceSpec {
        source: stripe::SOURCE,
        scheme: Scheme::Stripe,
        inbox_key: |_, body| stripe::inbox_key(body),
        plan: plan::stripe,
    },
    SourceSpec {
        source: easypost::SOURCE,
        scheme: Scheme::EasyPost,
        inbox_key: |_, body| easypost::inbox_key(body),
        plan: plan::easypost,
    },
    SourceSpec {
        source: erp::SOURCE,
        scheme: Scheme::StandardWebhooks,
        inbox_key: |id, body| erp::inbox_key(id.unwrap_or_default(), body),
        plan: plan::erp,
    },
    SourceSpec {
        source: crm::SOURCE,
        scheme: Scheme::StandardWebhooks,
        inbox_key: |id, body| crm::inbox_key(id.unwrap_or_default(), body),
        plan: plan::crm,
    },
];

/// The declaration of `source`; `None` only for a name read from storage that this build does
/// not declare.
pub(crate) fn spec(source: Source) -> Option<&'static SourceSpec> {
    SOURCES.iter().find(|spec| spec.source == source)
}

/// The source called `name` (a URL segment or a configuration key), if one is declared.
pub(crate) fn named(name: &str) -> Option<&'static SourceSpec> {
    SOURCES.iter().find(|spec| spec.source.as_str() == name)
}
