//! The Tracker's caller-side behaviour, through the recording (in-memory) transport: validation,
//! options, lifecycle and runtimes. Delivery over HTTP is tested in the `aicm-tests` package.

use std::time::{Duration, SystemTime};

use aicm::testing::recording_tracker;
use aicm::{TrackError, TrackOptions};
use serde_json::json;

const SCHEMA: &str = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str",
    "cached": "bool", "latency_ms": "Optional[float]"}"#;

fn valid() -> serde_json::Value {
    json!({"input_tokens": 10, "output_tokens": 20, "model": "m", "cached": false})
}

#[test]
fn a_valid_record_is_recorded_with_every_field_of_the_contract() {
    let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    let id = tracker
        .track_with(
            valid(),
            TrackOptions::new()
                .client_customer_key("acme")
                .context(json!({"request": 7})),
        )
        .unwrap();
    let records = recording.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.response_id, id);
    assert_eq!(id.to_string().len(), 32);
    assert_eq!(
        (r.config_id.as_str(), r.service_id.as_str()),
        ("chat", "svc")
    );
    assert_eq!(r.usage, valid());
    assert_eq!(r.client_customer_key.as_deref(), Some("acme"));
    assert_eq!(r.context, Some(json!({"request": 7})));
    assert!(r.timestamp_rfc3339().ends_with("+00:00"));
}

#[test]
fn invalid_usage_fills_all_three_lists_and_queues_nothing() {
    let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    let err = tracker
        .track(json!({"input_tokens": "ten", "model": "m", "cached": true, "colour": "red"}))
        .unwrap_err();
    let v = err.validation().expect("a validation error");
    assert_eq!(v.missing_fields, vec!["output_tokens"]);
    assert_eq!(v.extra_fields, vec!["colour"]);
    assert_eq!(
        v.errors.get("input_tokens").map(String::as_str),
        Some("expected int, got str")
    );
    assert_eq!(
        err.to_string(),
        "invalid usage: Missing fields: output_tokens; Type errors: input_tokens: expected int, \
         got str; Unexpected fields: colour"
    );
    assert!(recording.records().is_empty());
    assert_eq!(tracker.health().total_accepted, 0);
}

#[test]
fn usage_that_is_not_an_object_is_a_typed_error() {
    let (tracker, _recording) = recording_tracker("chat", "svc", "{}").unwrap();
    for value in [json!(1), json!("x"), json!([1]), json!(null)] {
        assert!(matches!(
            tracker.track(value),
            Err(TrackError::NotAnObject { .. })
        ));
    }
}

#[test]
fn an_empty_schema_accepts_anything() {
    let (tracker, recording) = recording_tracker("free", "svc", "{}").unwrap();
    tracker
        .track(json!({"whatever": [1, {"x": null}]}))
        .unwrap();
    assert_eq!(recording.records().len(), 1);
}

#[test]
fn backfill_overrides_keep_the_given_id_and_time() {
    let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_754_600_000);
    let id = tracker
        .track_with(
            valid(),
            TrackOptions::new()
                .response_id("batch-2025-08-07-row-1")
                .timestamp(at),
        )
        .unwrap();
    assert_eq!(id, "batch-2025-08-07-row-1");
    let r = &recording.records()[0];
    assert_eq!(r.timestamp, at);
    assert_eq!(r.timestamp_rfc3339(), "2025-08-07T20:53:20.000000+00:00");
}

#[test]
fn bad_options_are_refused() {
    let (tracker, _recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    let err = tracker
        .track_with(valid(), TrackOptions::new().context(json!([1])))
        .unwrap_err();
    assert!(matches!(
        err,
        TrackError::InvalidOption {
            option: "context",
            ..
        }
    ));
    let err = tracker
        .track_with(valid(), TrackOptions::new().response_id(""))
        .unwrap_err();
    assert!(matches!(
        err,
        TrackError::InvalidOption {
            option: "response_id",
            ..
        }
    ));
}

#[test]
fn close_closes_every_clone_and_track_after_close_is_closed() {
    let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    let clone = tracker.clone();
    for _ in 0..100 {
        tracker.track(valid()).unwrap();
    }
    clone.close().unwrap();
    assert!(tracker.is_closed());
    assert!(matches!(tracker.track(valid()), Err(TrackError::Closed)));
    assert_eq!(
        recording.records().len(),
        100,
        "close delivered everything queued"
    );
    tracker.close().unwrap();
}

#[test]
fn track_many_gives_one_result_per_item() {
    let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    let results = tracker.track_many([valid(), json!({"model": 1}), valid()]);
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    assert_eq!(recording.records().len(), 2);
}

#[test]
fn health_balances_and_counts_records() {
    let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    for _ in 0..250 {
        tracker.track(valid()).unwrap();
        assert!(tracker.health().is_balanced());
    }
    assert_eq!(recording.records().len(), 250);
    let h = tracker.health();
    assert!(h.is_balanced(), "{h:?}");
    assert_eq!(
        (h.total_accepted, h.total_sent, h.queue_size, h.in_flight),
        (250, 250, 0, 0)
    );
    assert!(h.worker_alive);
    assert!(aicm::global_delivery_health().is_some());
}

#[test]
fn works_without_any_runtime() {
    let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    for _ in 0..1000 {
        tracker.track(valid()).unwrap();
    }
    tracker.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(recording.records().len(), 1000);
    tracker.close().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn works_inside_a_current_thread_runtime() {
    let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    for _ in 0..500 {
        tracker
            .track_async(valid(), TrackOptions::new())
            .await
            .unwrap();
        tracker.track(valid()).unwrap();
    }
    tracker.flush_async(Duration::from_secs(10)).await.unwrap();
    assert_eq!(recording.records_async().await.len(), 1000);
    let receipt = tracker
        .deliver_now(valid(), TrackOptions::new())
        .await
        .unwrap();
    assert_eq!(receipt.status, 200);
    tracker.close_async().await.unwrap();
    assert_eq!(recording.records_async().await.len(), 1001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_multi_thread_runtime() {
    let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let t = tracker.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..250 {
                t.track_async(valid(), TrackOptions::new()).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // The blocking forms work here too (they block this worker thread for a moment).
    tracker.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(recording.records_async().await.len(), 1000);
    tracker.close().unwrap();
}

/// Records whose hand-written `Serialize` tracks another record on the same thread, or fails
/// half-way. `track` serialises into the thread's body chunk, which a record holds while it is
/// written: neither case may leak bytes into another record.
mod written_into_the_thread_chunk {
    use std::cell::RefCell;

    use aicm::{TrackError, TrackOptions, Tracker};
    use serde::ser::{Error as _, SerializeMap};
    use serde_json::json;

    use super::recording_tracker;

    const SCHEMA: &str = r#"{"tokens": "int"}"#;

    thread_local! {
        /// The tracker a nesting record's `Serialize` tracks its inner record on.
        static INNER: RefCell<Option<Tracker>> = const { RefCell::new(None) };
    }

    /// Tracks `{"tokens": 2}` while writing `{"tokens": 1}`, in the middle of its object.
    #[derive(aicm::Usage)]
    #[usage(schema = r#"{"tokens": "int"}"#)]
    struct Nesting {
        tokens: i64,
    }

    impl serde::Serialize for Nesting {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_key("tokens")?;
            INNER.with(|inner| {
                let inner = inner.borrow();
                let tracker = inner
                    .as_ref()
                    .ok_or_else(|| S::Error::custom("no tracker"))?;
                tracker
                    .track(json!({"tokens": self.tokens + 1}))
                    .map_err(S::Error::custom)?;
                Ok(())
            })?;
            map.serialize_value(&self.tokens)?;
            map.end()
        }
    }

    /// Writes `{"tokens":` and then fails.
    #[derive(aicm::Usage)]
    #[usage(schema = r#"{"tokens": "int"}"#)]
    struct FailingHalfWay {
        tokens: i64,
    }

    impl serde::Serialize for FailingHalfWay {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_key("tokens")?;
            Err(S::Error::custom(format!("refusing {}", self.tokens)))
        }
    }

    #[test]
    fn a_track_nested_in_serialize_and_the_outer_record_both_arrive_whole() {
        let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
        INNER.with(|inner| *inner.borrow_mut() = Some(tracker.clone()));
        tracker.track(json!({"tokens": 0})).unwrap();
        tracker
            .track_with(
                Nesting { tokens: 1 },
                TrackOptions::new()
                    .client_customer_key("outer")
                    .context(json!({"k": "v"})),
            )
            .unwrap();
        tracker.track(json!({"tokens": 3})).unwrap();
        INNER.with(|inner| inner.borrow_mut().take());
        let records = recording.records();
        let seen: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.usage.clone(),
                    r.client_customer_key.clone(),
                    r.context.clone(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (json!({"tokens": 0}), None, None),
                // The inner record is accepted first: the outer one is still being written.
                (json!({"tokens": 2}), None, None),
                (
                    json!({"tokens": 1}),
                    Some("outer".to_owned()),
                    Some(json!({"k": "v"}))
                ),
                (json!({"tokens": 3}), None, None),
            ]
        );
    }

    #[test]
    fn a_record_whose_serialize_fails_leaves_nothing_behind() {
        let (tracker, recording) = recording_tracker("chat", "svc", SCHEMA).unwrap();
        tracker.track(json!({"tokens": 1})).unwrap();
        let err = tracker.track(FailingHalfWay { tokens: 2 }).unwrap_err();
        assert!(
            matches!(&err, TrackError::Serialize(message) if message.contains("refusing 2")),
            "{err:?}"
        );
        tracker.track(json!({"tokens": 3})).unwrap();
        let usages: Vec<_> = recording.records().into_iter().map(|r| r.usage).collect();
        assert_eq!(usages, vec![json!({"tokens": 1}), json!({"tokens": 3})]);
        let health = tracker.health();
        assert_eq!(health.total_accepted, 2, "{health:?}");
    }
}

/// A count that must stay on its thread (it holds an `Rc`): neither `Send` nor `'static`
/// bounds are asked of a tracked record, owned or borrowed.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct ThreadBoundCount {
    n: i64,
    #[serde(skip)]
    _here: std::marker::PhantomData<std::rc::Rc<()>>,
}

impl aicm::conform::IsInt for ThreadBoundCount {}

#[derive(serde::Serialize, aicm::Usage)]
#[usage(schema = r#"{"tokens": "int"}"#)]
struct NotSendUsage {
    tokens: ThreadBoundCount,
}

#[test]
fn an_owned_record_need_not_be_send_or_static() {
    let (tracker, recording) = recording_tracker("chat", "svc", r#"{"tokens": "int"}"#).unwrap();
    let usage = || NotSendUsage {
        tokens: ThreadBoundCount {
            n: 3,
            _here: std::marker::PhantomData,
        },
    };
    tracker.track(usage()).unwrap();
    let borrowed = usage();
    tracker.track(&borrowed).unwrap();
    let records = recording.records();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.usage == json!({"tokens": 3})));
}
