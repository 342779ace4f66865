//! The axum example app over real HTTP on loopback: typed and dynamic records are accepted,
//! invalid usage answers 422 with the three lists, and a graceful shutdown delivers every
//! queued record before `serve` returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use aicm::Tracker;
use aicm_examples::web::{
    self, CONFIG_ID, CUSTOMER_HEADER, ChatResponse, SERVICE_ID, TrackResponse,
};
use aicm_tests::LocalApi;
use serde_json::{Value, json};

/// Typed (`/chat`) and dynamic (`/track`) requests each.
const EACH: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_posted_to_the_app_all_arrive_after_a_graceful_shutdown() {
    let api = LocalApi::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A batch interval far longer than the test: nothing is sent until `close` flushes, so
    // the records arriving proves the shutdown delivered them.
    let tracker = Tracker::builder(CONFIG_ID, SERVICE_ID)
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(dir.path().join("AICM.INI"))
        .batch_interval(Duration::from_secs(3600))
        .build_async()
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(web::serve(listener, tracker.clone(), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();

    let mut ids = BTreeSet::new();
    for i in 0..EACH {
        let answer = client
            .post(format!("{base}/chat"))
            .header(CUSTOMER_HEADER, "acme")
            .json(&json!({"prompt": format!("question number {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let body: ChatResponse = answer.json().await.unwrap();
        assert!(body.reply.contains("3 word(s)"), "{}", body.reply);
        ids.insert(body.response_id.expect("typed usage tracked"));

        let answer = client
            .post(format!("{base}/track"))
            .json(&json!({
                "usage": {"input_tokens": 10 + i, "output_tokens": 5, "model": "gpt-4o-mini",
                          "cached": i % 2 == 0},
                "client_customer_key": "globex",
                "context": {"request": i},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        let body: TrackResponse = answer.json().await.unwrap();
        ids.insert(body.response_id);
    }
    assert_eq!(ids.len(), 2 * EACH, "every response id is distinct");

    let invalid = client
        .post(format!("{base}/track"))
        .json(&json!({"usage": {"input_tokens": "ten", "output_tokens": 5, "colour": "red"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "errors": {"input_tokens": "expected int, got str"},
            "missing_fields": ["model", "cached"],
            "extra_fields": ["colour"],
        })
    );

    let not_json = client
        .post(format!("{base}/track"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);

    let health: Value = client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["total_accepted"], 2 * EACH);
    assert_eq!(
        health["queue_size"],
        2 * EACH,
        "held back by the batch interval"
    );
    assert_eq!(
        api.stats().records_stored,
        0,
        "nothing delivered before shutdown"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();

    // No waiting: `serve` returns only after `close_async` delivered everything.
    let stats = api.stats();
    assert_eq!(stats.records_stored, 2 * EACH as u64);
    assert_eq!(stats.rejected_records, 0);
    assert!(tracker.is_closed());
    let records = api.records();
    let stored: BTreeSet<String> = records.iter().map(|r| r.response_id.clone()).collect();
    assert_eq!(stored, ids);
    let customers = |key: &str| {
        records
            .iter()
            .filter(|r| r.client_customer_key.as_deref() == Some(key))
            .count()
    };
    assert_eq!(customers("acme"), EACH);
    assert_eq!(customers("globex"), EACH);
    let chat = records
        .iter()
        .find(|r| r.client_customer_key.as_deref() == Some("acme"))
        .unwrap();
    assert_eq!(chat.usage["model"], "gpt-4o-mini");
    assert_eq!(chat.usage["cached"], false);
    assert_eq!(
        chat.context.as_ref().unwrap()["route"],
        Value::from("/chat")
    );

    // The server is gone: new connections are refused.
    assert!(client.get(format!("{base}/health")).send().await.is_err());
}
