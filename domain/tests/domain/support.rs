//! Test support: the given/when/then harness for deciders, and small builders for values.

use std::fmt::Debug;

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::{
    Code, Context, Currency, CustomerId, Decider, ExternalRef, Money, NonEmptyText, OrderId,
    PaymentId, Quantity, ShipmentId, Sku,
};
use uuid::Uuid;

/// The fixed "now" of every decision in these tests.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap()
}

/// `now()` shifted by `n` minutes (carrier times).
pub fn minutes(n: i64) -> DateTime<Utc> {
    now() + Duration::minutes(n)
}

/// A deterministic context at `now()`.
pub fn ctx() -> Context {
    Context::deterministic(now())
}

/// A fixed UUIDv7-shaped id ending in `n`.
fn v7(n: u128) -> Uuid {
    Uuid::from_u128(0x0195_4f1c_0000_7000_8000_0000_0000_0000 | n)
}

pub fn order_id() -> OrderId {
    OrderId::from_uuid(v7(1))
}

pub fn customer_id() -> CustomerId {
    CustomerId::from_uuid(v7(2))
}

pub fn payment_id(n: u128) -> PaymentId {
    PaymentId::from_uuid(v7(0x100 + n))
}

pub fn shipment_id(n: u128) -> ShipmentId {
    ShipmentId::from_uuid(v7(0x200 + n))
}

pub fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

pub fn usd(amount: i64) -> Money {
    Money::new(amount, Currency::USD)
}

pub fn sku(text: &str) -> Sku {
    Sku::parse(text).unwrap()
}

pub fn text(text: &str) -> NonEmptyText {
    NonEmptyText::parse(text).unwrap()
}

pub fn ext(text: &str) -> ExternalRef {
    ExternalRef::parse(text).unwrap()
}

pub fn code(text: &str) -> Code {
    Code::parse(text).unwrap()
}

pub fn qty(n: u32) -> Quantity {
    Quantity::parse(n).unwrap()
}

/// Starts a scenario from a history of events.
pub fn given<D: Decider>(history: Vec<D::Event>) -> Given<D> {
    Given { history }
}

/// A history, waiting for a command.
pub struct Given<D: Decider> {
    history: Vec<D::Event>,
}

impl<D: Decider> Given<D> {
    /// Decides `command` against the state folded from the history.
    pub fn when(self, command: D::Command) -> Then<D> {
        let state = D::fold(&self.history);
        let result = D::decide(&state, command, &ctx());
        Then { state, result }
    }
}

/// A decision, waiting for its expectation.
pub struct Then<D: Decider> {
    state: D::State,
    result: Result<Vec<D::Event>, D::Error>,
}

impl<D: Decider> Then<D>
where
    D::Event: Debug + PartialEq,
    D::Error: Debug + PartialEq,
{
    /// Expects exactly these events; returns the state once they are applied.
    #[track_caller]
    pub fn then_expect(self, expected: Vec<D::Event>) -> D::State {
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "unexpected events");
                let mut state = self.state;
                for event in &events {
                    D::evolve(&mut state, event);
                }
                state
            }
            Err(error) => panic!("expected {expected:#?}, but the command was refused: {error:?}"),
        }
    }

    /// Expects the command to change nothing (an idempotent repeat).
    #[track_caller]
    pub fn then_nothing(self) -> D::State {
        self.then_expect(vec![])
    }

    /// Expects this refusal.
    #[track_caller]
    pub fn then_error(self, expected: D::Error) {
        match self.result {
            Ok(events) => panic!("expected refusal {expected:?}, but got {events:#?}"),
            Err(error) => assert_eq!(error, expected, "unexpected refusal"),
        }
    }
}

/// What a command should do in one state of a table.
pub enum Outcome<D: Decider> {
    /// These events.
    Emits(Vec<D::Event>),
    /// Nothing (already applied).
    Nothing,
    /// This refusal.
    Refused(D::Error),
}

/// One row of a state table: the state's name, the history that reaches it, the outcome.
pub type Row<'a, D> = (&'a str, Vec<<D as Decider>::Event>, Outcome<D>);

/// Decides one command in each named state of a table and checks every row, reporting all the
/// rows that differ at once.
#[track_caller]
pub fn in_every_state<D: Decider>(command: D::Command, rows: Vec<Row<'_, D>>)
where
    D::Command: Clone + Debug,
    D::Event: Debug + PartialEq,
    D::Error: Debug + PartialEq,
{
    let mut failures = Vec::new();
    for (state_name, history, expected) in rows {
        let state = D::fold(&history);
        let got = D::decide(&state, command.clone(), &ctx());
        let ok = match (&expected, &got) {
            (Outcome::Emits(want), Ok(events)) => want == events,
            (Outcome::Nothing, Ok(events)) => events.is_empty(),
            (Outcome::Refused(want), Err(error)) => want == error,
            _ => false,
        };
        if !ok {
            let want = match expected {
                Outcome::Emits(events) => format!("{events:#?}"),
                Outcome::Nothing => "nothing".to_owned(),
                Outcome::Refused(error) => format!("refusal {error:?}"),
            };
            failures.push(format!(
                "in state `{state_name}`: expected {want}, got {got:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{command:?}\n{}", failures.join("\n"));
}
