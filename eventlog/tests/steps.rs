//! Steps a subscriber sets aside (ADR 0010), on both backends: a failing step is retried with
//! backoff and parked after its attempts, a step waits for what it needs, a refused step is told
//! and holds nothing back; only the later steps of the same lane wait behind one set aside, in
//! order; a person's retry or dismissal moves a lane on.
#![allow(clippy::unwrap_used)]

use std::{collections::HashMap, sync::Mutex, time::Duration};

use eventlog::{
    testing::TestDatabase, Append, EventLog, ExpectedVersion, HandlerError, NewEvent,
    RecordedEvent, Refusal, SetAside, StepError, StepState, StreamId, Subscriber,
    SubscriptionOptions,
};
use serde_json::json;

eventlog::on_both_backends!(
    a_failing_step_is_set_aside_and_only_the_rest_of_its_lane_waits_behind_it,
    a_step_failing_every_attempt_is_parked_told_and_taken_again_when_a_person_asks,
    a_waiting_step_is_told_once_and_goes_on_when_what_it_needs_appears,
    a_refused_step_is_told_and_holds_nothing_back,
    a_dismissed_step_lets_the_rest_of_its_lane_go_on,
    an_unavailable_step_pauses_the_whole_subscriber_before_it_and_sets_nothing_aside,
    a_step_set_aside_uses_up_no_attempt_while_its_destination_is_unavailable,
);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Fail,
    Wait,
    Refuse,
    Unavailable,
}

/// Takes a step per event, as told per event type; records what it took and what it told.
#[derive(Default)]
struct Scripted {
    acts: Mutex<HashMap<&'static str, Act>>,
    taken: Mutex<Vec<i64>>,
    told: Mutex<Vec<(i64, String)>>,
    through: Mutex<Vec<i64>>,
}

impl Scripted {
    fn with(acts: &[(&'static str, Act)]) -> Self {
        let scripted = Self::default();
        scripted.acts.lock().unwrap().extend(acts.iter().copied());
        scripted
    }

    fn heal(&self, event_type: &str) {
        self.acts.lock().unwrap().remove(event_type);
    }

    fn act(&self, event_type: &'static str, act: Act) {
        self.acts.lock().unwrap().insert(event_type, act);
    }

    fn taken(&self) -> Vec<i64> {
        self.taken.lock().unwrap().clone()
    }

    fn told(&self) -> Vec<(i64, String)> {
        self.told.lock().unwrap().clone()
    }
}

impl Subscriber for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn lane(&self, event: &RecordedEvent) -> Option<String> {
        (event.event_type != "Ignored").then(|| event.stream.aggregate_id.clone())
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), StepError> {
        let act = self
            .acts
            .lock()
            .unwrap()
            .get(event.event_type.as_str())
            .copied();
        match act {
            Some(Act::Fail) => Err(StepError::failed("the partner is down")),
            Some(Act::Wait) => Err(StepError::Waiting("no order yet".to_owned())),
            Some(Act::Unavailable) => Err(StepError::Unavailable {
                until: chrono::Utc::now() + chrono::Duration::hours(1),
                why: "circuit open".to_owned(),
            }),
            Some(Act::Refuse) => Err(StepError::Refused(vec![Refusal {
                rule: "refund_exceeds_captured".to_owned(),
                detail: "refund exceeds captured amount".to_owned(),
                target: "payment/p1".to_owned(),
            }])),
            None => {
                self.taken.lock().unwrap().push(event.position);
                Ok(())
            }
        }
    }

    async fn set_aside(
        &self,
        event: &RecordedEvent,
        why: SetAside<'_>,
    ) -> Result<(), HandlerError> {
        let kind = match why {
            SetAside::Refused(refusals) => format!("refused:{}", refusals[0].rule),
            SetAside::Waiting(why) => format!("waiting:{why}"),
            SetAside::Parked { attempts, .. } => format!("parked:{attempts}"),
        };
        self.told.lock().unwrap().push((event.position, kind));
        Ok(())
    }

    async fn went_through(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        self.through.lock().unwrap().push(event.position);
        Ok(())
    }
}

fn quick() -> SubscriptionOptions {
    SubscriptionOptions {
        batch_size: 2,
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
        ..SubscriptionOptions::default()
    }
}

async fn append(log: &EventLog, lane: &str, kind: &str) -> i64 {
    let appended = log
        .append(Append::new(
            StreamId::new("order", lane),
            ExpectedVersion::Any,
            vec![NewEvent::new(kind, 1, json!({}))],
        ))
        .await
        .unwrap();
    let position = appended.last_position().unwrap();
    assert!(log
        .wait_until_visible(position, Duration::from_secs(30))
        .await
        .unwrap());
    position
}

/// Catches up again and again (steps come due after their backoff) until `done` holds.
async fn until(log: &EventLog, subscriber: &Scripted, done: impl Fn(&Scripted) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        log.catch_up(subscriber, &quick()).await.unwrap();
        if done(subscriber) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never came to pass");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn states(log: &EventLog) -> Vec<(i64, StepState)> {
    log.set_aside_steps(Some("scripted"))
        .await
        .unwrap()
        .iter()
        .map(|step| (step.position, step.state))
        .collect()
}

async fn a_failing_step_is_set_aside_and_only_the_rest_of_its_lane_waits_behind_it(
    _db: &TestDatabase,
    log: EventLog,
) {
    let a1 = append(&log, "a", "Placed").await;
    let b1 = append(&log, "b", "Poison").await;
    let a2 = append(&log, "a", "Paid").await;
    let b2 = append(&log, "b", "Paid").await;
    let c1 = append(&log, "c", "Placed").await;
    let scripted = Scripted::with(&[("Poison", Act::Fail)]);
    let checkpoint = log.catch_up(&scripted, &quick()).await.unwrap();

    assert_eq!(checkpoint, c1, "the subscriber went past the failing step");
    assert_eq!(scripted.taken(), [a1, a2, c1], "other lanes went on");
    assert_eq!(
        states(&log).await,
        [(b1, StepState::Retrying), (b2, StepState::Queued)],
        "the rest of lane b waits behind its failing step"
    );

    scripted.heal("Poison");
    until(&log, &scripted, |s| s.taken().len() == 5).await;
    assert_eq!(
        scripted.taken(),
        [a1, a2, c1, b1, b2],
        "lane b went on in log order"
    );
    assert!(states(&log).await.is_empty());
    assert!(
        scripted.told().is_empty(),
        "an automatic retry needs no person"
    );
}

async fn a_step_failing_every_attempt_is_parked_told_and_taken_again_when_a_person_asks(
    _db: &TestDatabase,
    log: EventLog,
) {
    let poison = append(&log, "a", "Poison").await;
    let behind = append(&log, "a", "Paid").await;
    let scripted = Scripted::with(&[("Poison", Act::Fail)]);
    until(&log, &scripted, |s| !s.told().is_empty()).await;
    assert_eq!(scripted.told(), [(poison, "parked:3".to_owned())]);
    assert_eq!(
        states(&log).await,
        [(poison, StepState::Parked), (behind, StepState::Queued)]
    );
    let status = log.subscribers().await.unwrap();
    let status = status.iter().find(|s| s.name == "scripted").unwrap();
    assert_eq!((status.parked, status.retrying), (1, 1));
    assert!(status.is_degraded());

    // Parked, it is not tried again by itself.
    log.catch_up(&scripted, &quick()).await.unwrap();
    assert!(scripted.taken().is_empty());

    // A person asks again while it still fails: one attempt, parked again and told again.
    request(&log, poison).await;
    log.catch_up(&scripted, &quick()).await.unwrap();
    assert_eq!(
        scripted.told().last().unwrap(),
        &(poison, "parked:4".to_owned())
    );
    assert_eq!(states(&log).await[0], (poison, StepState::Parked));

    // Fixed, and asked again: it goes through, once, then the step behind it.
    scripted.heal("Poison");
    request(&log, poison).await;
    log.catch_up(&scripted, &quick()).await.unwrap();
    assert_eq!(scripted.taken(), [poison, behind]);
    assert_eq!(*scripted.through.lock().unwrap(), [poison]);
    assert!(states(&log).await.is_empty());
}

async fn request(log: &EventLog, position: i64) {
    let event = log.event_at(position).await.unwrap().unwrap();
    let mut tx = log.begin().await.unwrap();
    log.request_step_in(&mut tx, "scripted", &event, &event.stream.aggregate_id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn a_waiting_step_is_told_once_and_goes_on_when_what_it_needs_appears(
    _db: &TestDatabase,
    log: EventLog,
) {
    let early = append(&log, "a", "PaymentBeforeOrder").await;
    let scripted = Scripted::with(&[("PaymentBeforeOrder", Act::Wait)]);
    log.catch_up(&scripted, &quick()).await.unwrap();
    // Tried again a few times: told once, never parked.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        log.catch_up(&scripted, &quick()).await.unwrap();
    }
    assert_eq!(
        scripted.told(),
        [(early, "waiting:no order yet".to_owned())]
    );
    assert_eq!(states(&log).await, [(early, StepState::Waiting)]);
    let status = log.subscribers().await.unwrap();
    assert_eq!(
        status
            .iter()
            .find(|s| s.name == "scripted")
            .unwrap()
            .waiting,
        1
    );

    scripted.heal("PaymentBeforeOrder");
    until(&log, &scripted, |s| !s.taken().is_empty()).await;
    assert_eq!(scripted.taken(), [early]);
    assert_eq!(*scripted.through.lock().unwrap(), [early]);
    assert!(states(&log).await.is_empty());
}

async fn a_refused_step_is_told_and_holds_nothing_back(_db: &TestDatabase, log: EventLog) {
    let refused = append(&log, "a", "Cancelled").await;
    let later = append(&log, "a", "Paid").await;
    let ignored = append(&log, "a", "Ignored").await;
    let scripted = Scripted::with(&[("Cancelled", Act::Refuse)]);
    assert_eq!(log.catch_up(&scripted, &quick()).await.unwrap(), ignored);
    assert_eq!(
        scripted.told(),
        [(refused, "refused:refund_exceeds_captured".to_owned())]
    );
    assert_eq!(
        scripted.taken(),
        [later],
        "its lane went on; no lane, no step"
    );
    assert!(states(&log).await.is_empty());

    // Asked again and refused again: told again, and nothing is held.
    request(&log, refused).await;
    log.catch_up(&scripted, &quick()).await.unwrap();
    assert_eq!(scripted.told().len(), 2);
    assert!(states(&log).await.is_empty());
}

async fn a_dismissed_step_lets_the_rest_of_its_lane_go_on(_db: &TestDatabase, log: EventLog) {
    let poison = append(&log, "a", "Poison").await;
    let behind = append(&log, "a", "Paid").await;
    let scripted = Scripted::with(&[("Poison", Act::Fail)]);
    until(&log, &scripted, |s| !s.told().is_empty()).await;

    let mut tx = log.begin().await.unwrap();
    assert!(log.drop_step_in(&mut tx, "scripted", poison).await.unwrap());
    tx.commit().await.unwrap();
    log.catch_up(&scripted, &quick()).await.unwrap();
    assert_eq!(
        scripted.taken(),
        [behind],
        "the step behind went on; the dismissed one never"
    );
    assert!(states(&log).await.is_empty());
}

async fn an_unavailable_step_pauses_the_whole_subscriber_before_it_and_sets_nothing_aside(
    _db: &TestDatabase,
    log: EventLog,
) {
    let a1 = append(&log, "a", "Placed").await;
    let b1 = append(&log, "b", "Down").await;
    let a2 = append(&log, "a", "Paid").await;
    let c1 = append(&log, "c", "Placed").await;
    let scripted = Scripted::with(&[("Down", Act::Unavailable)]);

    let checkpoint = log.catch_up(&scripted, &quick()).await.unwrap();
    assert!(
        (a1..b1).contains(&checkpoint),
        "the checkpoint stays before the event it could not take: {checkpoint}"
    );
    assert_eq!(scripted.taken(), [a1], "no later event of any lane went");
    assert!(states(&log).await.is_empty(), "nothing was set aside");
    assert!(scripted.told().is_empty(), "nothing to tell a person");

    // Still unavailable: still nothing goes, nothing is lost.
    log.catch_up(&scripted, &quick()).await.unwrap();
    assert_eq!(scripted.taken(), [a1]);

    scripted.heal("Down");
    let checkpoint = log.catch_up(&scripted, &quick()).await.unwrap();
    assert_eq!(checkpoint, c1);
    assert_eq!(
        scripted.taken(),
        [a1, b1, a2, c1],
        "each once, in log order"
    );
}

async fn a_step_set_aside_uses_up_no_attempt_while_its_destination_is_unavailable(
    _db: &TestDatabase,
    log: EventLog,
) {
    let poison = append(&log, "a", "Poison").await;
    let scripted = Scripted::with(&[("Poison", Act::Fail)]);
    // Each retry due 20 ms after the last: none comes within one catch-up.
    let slow = SubscriptionOptions {
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(20),
        ..quick()
    };
    log.catch_up(&scripted, &slow).await.unwrap();
    let attempts = |steps: Vec<eventlog::SetAsideStep>| {
        steps
            .iter()
            .map(|s| (s.position, s.state, s.attempts))
            .collect::<Vec<_>>()
    };
    let first = attempts(log.set_aside_steps(Some("scripted")).await.unwrap());
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, StepState::Retrying);

    scripted.act("Poison", Act::Unavailable);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        log.catch_up(&scripted, &slow).await.unwrap();
    }
    assert_eq!(
        attempts(log.set_aside_steps(Some("scripted")).await.unwrap()),
        first,
        "retries while unavailable neither count nor park"
    );
    assert!(scripted.told().is_empty());

    scripted.heal("Poison");
    until(&log, &scripted, |s| s.taken() == [poison]).await;
    assert!(states(&log).await.is_empty());
}
