//! E-mail through a real SMTP server process (aiosmtpd), not a mock of the transport: the
//! order confirmation reaches the customer's address from the CRM copy, with its subject, its
//! text and HTML parts and a `Message-ID` made from the event, the same on every resend.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use adapters::outbound::{
    config::EmailConfig,
    email::Email,
    engine::{attempts, AttemptOutcome},
    Destination,
};
use commands::CommandHandler;
use eventlog::{testing::TestDatabase, EventLog};
use mailparse::MailHeaderMap as _;
use serde_json::json;

use crate::support::*;

eventlog::on_both_backends!(
    the_order_confirmation_arrives_at_the_crm_address_with_both_parts,
    markup_in_a_name_is_inert_text_in_the_html_part,
);

async fn the_order_confirmation_arrives_at_the_crm_address_with_both_parts(
    _db: &TestDatabase,
    log: EventLog,
) {
    let server = SmtpServer::start().await;
    contact(&log, "ana@example.com", None).await;
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    let config: EmailConfig = serde_json::from_value(json!({
        "smtp_url": server.url(), "from": "Teapot Shop <orders@teapots.example>",
    }))
    .unwrap();
    let limits = quick_limits();
    let email = outbound(&log, Email::connect(&config).await.unwrap(), limits.clone());
    run_until(&log, &email, &limits, Duration::from_secs(30), || {
        !server.messages().is_empty()
    })
    .await;

    let placed = events(&log).await.remove(0);
    let raw = server.messages().remove(0);
    let mail = mailparse::parse_mail(&raw).unwrap();
    let header = |name: &str| mail.headers.get_first_value(name).unwrap_or_default();
    assert_eq!(header("To"), "\"Ana Lima\" <ana@example.com>");
    assert_eq!(header("From"), "\"Teapot Shop\" <orders@teapots.example>");
    assert_eq!(header("Subject"), "Your order WEB-1 is confirmed");
    assert_eq!(
        header("Message-ID"),
        format!("<{}@teapots.example>", placed.event_id)
    );
    assert_eq!(mail.ctype.mimetype, "multipart/alternative");
    let parts: Vec<(String, String)> = mail
        .subparts
        .iter()
        .map(|part| (part.ctype.mimetype.clone(), part.get_body().unwrap()))
        .collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].0, "text/plain");
    assert!(parts[0].1.contains("Hello Ana Lima,"), "{}", parts[0].1);
    assert!(
        parts[0].1.contains("  2 x Mug  12.50 EUR"),
        "{}",
        parts[0].1
    );
    assert!(parts[0].1.contains("Total: 59.99 EUR"), "{}", parts[0].1);
    assert_eq!(parts[1].0, "text/html");
    assert!(
        parts[1].1.contains("<strong>WEB-1</strong>"),
        "{}",
        parts[1].1
    );
    assert!(parts[1].1.contains("<th align=\"right\">59.99 EUR</th>"));

    let tried = attempts(&log, Email::NAME, placed.event_id).await.unwrap();
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0].outcome, AttemptOutcome::Sent);
    assert_eq!(tried[0].status, Some(250));
}

async fn markup_in_a_name_is_inert_text_in_the_html_part(_db: &TestDatabase, log: EventLog) {
    let hostile = "<script>alert(1)</script><b onmouseover=\"x\">Ana</b>";
    contact_named(&log, hostile, "ana@example.com", None).await;
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    let config: EmailConfig = serde_json::from_value(json!({
        "smtp_url": "smtp://127.0.0.1:2525", "from": "Teapot Shop <orders@teapots.example>",
    }))
    .unwrap();
    let email = Email::connect(&config).await.unwrap();
    let placed = events(&log).await.remove(0);
    let facts = adapters::outbound::Facts::load(&handler, &placed, Email::NEEDS)
        .await
        .unwrap();
    let message = email.message(&placed, &facts).unwrap().unwrap();
    assert!(!message.html.contains("<script>"), "{}", message.html);
    assert!(!message.html.contains("<b "), "{}", message.html);
    assert!(
        message
            .html
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || message
                .html
                .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        message.html
    );
    assert!(message.text.contains(hostile), "the text part is text");
}
