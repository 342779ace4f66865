//! Every fault kind of the local API, over real HTTP, through `POST /__faults` and through
//! the Rust API; and the count-only mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aicm_tests::{Faults, FaultsUpdate, LocalApi, LocalApiHandle, TokenFault};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

async fn start() -> LocalApiHandle {
    LocalApi::builder().start().await.unwrap()
}

fn batch(response_ids: &[&str]) -> Value {
    let records: Vec<Value> = response_ids
        .iter()
        .map(|rid| {
            json!({"config_id": "free-form", "service_id": "internal::misc",
                   "timestamp": "2025-08-07T20:41:59Z", "response_id": rid,
                   "usage": {"n": 1}})
        })
        .collect();
    json!({ "usage_records": records })
}

async fn send(
    client: &reqwest::Client,
    api: &LocalApiHandle,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("{}/track-usage", api.api_root()))
        .header("Authorization", format!("Bearer {}", api.api_key()))
        .json(body)
        .send()
        .await
}

async fn post_faults(api: &LocalApiHandle, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/__faults", api.api_base()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn fail_next_answers_the_given_status_then_recovers() {
    let api = start().await;
    let response = post_faults(&api, json!({"fail_next": 2, "status": 503})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let faults: Value = response.json().await.unwrap();
    assert_eq!(
        (faults["fail_next"].as_u64(), faults["status"].as_u64()),
        (Some(2), Some(503))
    );

    let client = client();
    for _ in 0..2 {
        let response = send(&client, &api, &batch(&["a"])).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
    }
    assert_eq!(api.stats().records_stored, 0);
    let response = send(&client, &api, &batch(&["a"])).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let stats = api.stats();
    assert_eq!((stats.records_stored, stats.faults_injected), (1, 2));
    assert_eq!(stats.track_requests, 3);

    // Without a status, fail_next means 500.
    post_faults(&api, json!({"fail_next": 1})).await;
    let response = send(&client, &api, &batch(&["b"])).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn rate_limit_next_answers_429_with_retry_after() {
    let api = start().await;
    post_faults(&api, json!({"rate_limit_next": 1, "retry_after": 7})).await;
    let client = client();
    let response = send(&client, &api, &batch(&["a"])).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(api.stats().records_stored, 0);
    assert_eq!(
        send(&client, &api, &batch(&["a"])).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(api.stats().records_stored, 1);
}

#[tokio::test]
async fn drop_next_closes_the_connection_without_an_answer_and_stores_nothing() {
    let api = start().await;
    post_faults(&api, json!({"drop_next": 1})).await;
    let client = client();
    let error = send(&client, &api, &batch(&["a"])).await.unwrap_err();
    assert!(
        error.status().is_none(),
        "no status, only a connection error: {error:?}"
    );
    assert!(!error.is_timeout(), "{error:?}");
    let stats = api.stats();
    assert_eq!(stats.records_stored, 0);
    assert_eq!(stats.dropped_connections, 1);
    // The same client recovers on a new connection.
    assert_eq!(
        send(&client, &api, &batch(&["a"])).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(api.stats().records_stored, 1);
}

#[tokio::test]
async fn drop_after_store_keeps_the_records_so_a_retry_is_a_duplicate() {
    let api = start().await;
    post_faults(&api, json!({"drop_after_store_next": 1})).await;
    let client = client();
    let error = send(&client, &api, &batch(&["a", "b"])).await.unwrap_err();
    assert!(error.status().is_none(), "{error:?}");
    let stored = api.records();
    assert_eq!(stored.len(), 2);

    let response = send(&client, &api, &batch(&["a", "b"])).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["event_ids"][0]["a"], stored[0].event_id.as_str());
    assert_eq!(answer["event_ids"][1]["b"], stored[1].event_id.as_str());
    let stats = api.stats();
    assert_eq!((stats.records_stored, stats.duplicates), (2, 2));
    assert_eq!(stats.dropped_connections, 1);
}

#[tokio::test]
async fn delay_ms_holds_every_answer_after_storing() {
    let api = start().await;
    post_faults(&api, json!({"delay_ms": 300})).await;
    let client = client();
    let started = Instant::now();
    let response = send(&client, &api, &batch(&["a"])).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    // A client that gives up early sees a timeout, yet the record was stored.
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let error = send(&impatient, &api, &batch(&["b"])).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    api.wait_for(WAIT, |s| s.records_stored == 2).await.unwrap();

    post_faults(&api, json!({"delay_ms": 0})).await;
    let started = Instant::now();
    send(&client, &api, &batch(&["c"])).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn stall_holds_requests_until_cleared() {
    let api = start().await;
    post_faults(&api, json!({"stall": true})).await;
    let client = client();
    let body = batch(&["a"]);
    let request = send(&client, &api, &body);
    tokio::pin!(request);
    // The request arrives and is counted, but is not answered while stalled.
    let wait = api.wait_for(WAIT, |s| s.track_requests == 1);
    tokio::select! {
        stats = wait => { stats.unwrap(); }
        response = &mut request => panic!("answered while stalled: {response:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut request)
            .await
            .is_err(),
        "still held"
    );
    assert_eq!(api.stats().records_stored, 0);
    api.set_stall(false);
    let response = request.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.stats().records_stored, 1);
}

#[tokio::test]
async fn poison_key_rejects_the_request_naming_the_record() {
    let api = start().await;
    post_faults(&api, json!({"poison_key": "boom"})).await;
    let mut body = batch(&["a", "b", "c"]);
    body["usage_records"][1]["usage"] = json!({"boom": true});
    let client = client();
    let response = send(&client, &api, &body).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let answer: Value = response.json().await.unwrap();
    let details = answer["details"].as_array().unwrap();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["record"], 1);
    assert_eq!(details[0]["response_id"], "b");
    assert_eq!(details[0]["field"], "usage_records[1].usage.boom");
    assert_eq!(api.stats().records_stored, 0);

    // Records without the key pass; clearing the key lets the poisoned one through.
    assert_eq!(
        send(&client, &api, &batch(&["a", "c"]))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let faults: Value = post_faults(&api, json!({"poison_key": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(faults["poison_key"], Value::Null);
    assert_eq!(
        send(&client, &api, &body).await.unwrap().status(),
        StatusCode::OK
    );
    let stats = api.stats();
    assert_eq!((stats.records_stored, stats.duplicates), (3, 2));
}

#[tokio::test]
async fn counted_faults_apply_in_order_drop_rate_limit_fail_drop_after_store() {
    let api = start().await;
    post_faults(
        &api,
        json!({"drop_next": 1, "rate_limit_next": 1, "fail_next": 1, "status": 502,
               "drop_after_store_next": 1}),
    )
    .await;
    let client = client();
    let first = send(&client, &api, &batch(&["1"])).await.unwrap_err();
    assert!(first.status().is_none(), "{first:?}");
    assert_eq!(api.stats().records_stored, 0);
    let second = send(&client, &api, &batch(&["2"])).await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let third = send(&client, &api, &batch(&["3"])).await.unwrap();
    assert_eq!(third.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(api.stats().records_stored, 0);
    let fourth = send(&client, &api, &batch(&["4"])).await.unwrap_err();
    assert!(fourth.status().is_none(), "{fourth:?}");
    assert_eq!(
        api.stats().records_stored,
        1,
        "drop after store stored the record"
    );
    let fifth = send(&client, &api, &batch(&["5"])).await.unwrap();
    assert_eq!(fifth.status(), StatusCode::OK);
    let stats = api.stats();
    assert_eq!(stats.faults_injected, 4);
    assert_eq!(stats.dropped_connections, 2);
    let ids: Vec<String> = api.records().into_iter().map(|r| r.response_id).collect();
    assert_eq!(ids, ["4", "5"]);
}

#[tokio::test]
async fn faults_reset_and_bad_fault_bodies() {
    let api = start().await;
    post_faults(
        &api,
        json!({"drop_next": 5, "delay_ms": 10, "poison_key": "x"}),
    )
    .await;
    let faults: Value = client()
        .get(format!("{}/__faults", api.api_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["drop_next"], 5);
    let response = post_faults(&api, json!({"reset": true})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.faults(), Faults::default());

    // reset first, then the rest of the same body.
    post_faults(&api, json!({"drop_next": 5})).await;
    post_faults(&api, json!({"reset": true, "fail_next": 1})).await;
    let faults = api.faults();
    assert_eq!((faults.drop_next, faults.fail_next), (0, 1));

    for bad in [
        json!({"status": 200}),
        json!({"no_such_fault": 1}),
        json!({"drop_next": "x"}),
    ] {
        let response = post_faults(&api, bad.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(api.faults().fail_next, 1, "a refused body changes nothing");
}

#[tokio::test]
async fn the_rust_api_sets_the_same_faults_as_the_control_endpoint() {
    let api = start().await;
    let body = json!({"fail_next": 2, "status": 503, "rate_limit_next": 1, "retry_after": 4,
                      "drop_next": 3, "drop_after_store_next": 1, "delay_ms": 25,
                      "poison_key": "p", "token_fault": "wrong_key", "stall": false});
    let via_http: Faults = post_faults(&api, body.clone()).await.json().await.unwrap();
    api.clear_faults();
    assert_eq!(api.faults(), Faults::default());

    api.fail_next(2, 503);
    api.rate_limit_next(1, 4);
    api.drop_next(3);
    api.drop_after_store_next(1);
    api.set_delay(Duration::from_millis(25));
    api.set_poison_key(Some("p"));
    api.set_token_fault(Some(TokenFault::WrongKey)).unwrap();
    assert_eq!(api.faults(), via_http);

    api.clear_faults();
    let update: FaultsUpdate = serde_json::from_value(body).unwrap();
    assert_eq!(api.update_faults(update).unwrap(), via_http);
    api.set_faults(Faults::default()).unwrap();
    assert_eq!(api.faults(), Faults::default());
    assert!(
        api.update_faults(FaultsUpdate {
            status: Some(99),
            ..Default::default()
        })
        .is_err()
    );
}

#[tokio::test]
async fn count_only_counts_without_storing() {
    let api = LocalApi::builder().count_only(true).start().await.unwrap();
    let client = client();
    for _ in 0..3 {
        let response = send(&client, &api, &batch(&["a", "b"])).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["event_ids"].as_array().unwrap().len(), 2);
    }
    // Invalid records are still refused.
    let mut bad = batch(&["c"]);
    bad["usage_records"][0]["config_id"] = json!("nope");
    assert_eq!(
        send(&client, &api, &bad).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let stats = api.stats();
    assert_eq!(stats.records_stored, 6);
    assert_eq!(stats.duplicates, 0);
    assert!(api.records().is_empty());
}
