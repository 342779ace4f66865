//! The local API over real HTTP: auth, signed configs, ETag/304, triggered limits,
//! track-usage checks, dedup, control endpoints, the thread-backed form and the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use aicm_tests::{
    ConfigEntry, ConfigsFile, DEFAULT_LAST_UPDATED, LimitVendor, LocalApi, LocalApiError,
    LocalApiHandle, OTHER_PUBLIC_PEM, TEST_PUBLIC_PEM, TokenFault, TriggeredLimit,
};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
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

fn auth(api: &LocalApiHandle) -> String {
    format!("Bearer {}", api.api_key())
}

async fn get_configs(api: &LocalApiHandle, etag: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .get(format!("{}/configs", api.api_root()))
        .header("Authorization", auth(api));
    if let Some(etag) = etag {
        request = request.header("If-None-Match", etag);
    }
    request.send().await.unwrap()
}

async fn post_track(api: &LocalApiHandle, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/track-usage", api.api_root()))
        .header("Authorization", auth(api))
        .json(body)
        .send()
        .await
        .unwrap()
}

fn record(config_id: &str, response_id: &str, usage: Value) -> Value {
    json!({
        "config_id": config_id,
        "service_id": "openai::gpt-4o-mini",
        "timestamp": "2025-08-07T20:41:59.566193+00:00",
        "response_id": response_id,
        "usage": usage,
    })
}

fn chat_usage() -> Value {
    json!({"input_tokens": 10, "output_tokens": 3, "model": "gpt-4o-mini", "cached": false})
}

/// Verification as API.md asks of clients: RS256, `iss = aicm-api`, `exp` optional.
fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&["aicm-api"]);
    validation.required_spec_claims = HashSet::new();
    validation.leeway = 60;
    validation
}

fn verify(token: &str, public_pem: &str) -> jsonwebtoken::errors::Result<Value> {
    let key = DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
    jsonwebtoken::decode::<Value>(token, &key, &validation()).map(|data| data.claims)
}

/// The claims of the config item for `config_id` in a `/configs` body.
fn config_claims(body: &Value, config_id: &str) -> jsonwebtoken::errors::Result<Value> {
    let item = body["service_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["config_id"] == config_id)
        .unwrap_or_else(|| panic!("no item for {config_id} in {body}"));
    verify(
        item["encrypted_payload"].as_str().unwrap(),
        item["public_key"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn every_api_route_requires_the_bearer_key() {
    let api = start().await;
    let routes = [
        ("GET", "/configs"),
        ("GET", "/triggered-limits"),
        ("POST", "/track-usage"),
    ];
    for (method, path) in routes {
        let url = format!("{}{path}", api.api_root());
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for header in [None, Some("Bearer wrong-key"), Some("sk-local-test")] {
            let mut request = client().request(method.clone(), &url).json(&json!({
                "usage_records": [record("free-form", "r1", json!({}))]
            }));
            if let Some(header) = header {
                request = request.header("Authorization", header);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} {header:?}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
            let message = body["message"].as_str().unwrap();
            assert!(!message.is_empty());
            assert!(
                !body.to_string().contains("wrong-key"),
                "key echoed: {body}"
            );
            assert!(body["timestamp"].is_string());
        }
    }
    let stats = api.stats();
    assert_eq!(stats.unauthorized, 9);
    assert_eq!(stats.requests, 9);
    assert_eq!(stats.last_authorized, Some(false));
    assert_eq!(stats.records_stored, 0);
    assert!(api.records().is_empty());
}

#[tokio::test]
async fn configs_are_signed_items_that_verify_with_the_served_key_only() {
    let api = start().await;
    let response = get_configs(&api, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );
    assert_eq!(etag, api.etag());
    let body: Value = response.json().await.unwrap();

    let items = body["service_configs"].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["config_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "chat-completions",
            "speech-to-text",
            "agent-run",
            "free-form"
        ]
    );
    for item in items {
        assert_eq!(item["api_id"], "manual");
        assert_eq!(item["version"], "v1");
        assert_eq!(item["key_id"], "k1");
        assert_eq!(item["public_key"], TEST_PUBLIC_PEM);
        let token = item["encrypted_payload"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("k1"));
        let error = verify(token, OTHER_PUBLIC_PEM).unwrap_err();
        assert_eq!(*error.kind(), ErrorKind::InvalidSignature);
    }

    let claims = config_claims(&body, "chat-completions").unwrap();
    assert_eq!(claims["iss"], "aicm-api");
    assert_eq!(claims["jti"], "config");
    assert_eq!(claims["version"], "v1");
    assert_eq!(claims["key_id"], "k1");
    assert!(claims["sub"].is_string());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let iat = claims["iat"].as_i64().unwrap();
    assert!(
        (now - 600..=now + 5).contains(&iat),
        "iat {iat} vs now {now}"
    );
    assert!(claims.get("exp").is_none());
    let config = &claims["configs"][0];
    assert_eq!(config["config_id"], "chat-completions");
    assert_eq!(config["api_id"], "manual");
    assert_eq!(config["last_updated"], DEFAULT_LAST_UPDATED);
    assert_eq!(config["handling_config"], json!({}));
    assert!(uuid::Uuid::parse_str(config["uuid"].as_str().unwrap()).is_ok());
    assert_eq!(
        config["manual_usage_schema"],
        json!({"input_tokens": "int", "output_tokens": "int", "model": "str",
               "cached": "bool", "latency_ms": "Optional[float]"})
    );

    // The triggered-limits item inside /configs verifies too, with no limit active.
    let limits = &body["triggered_limits"];
    let claims = verify(
        limits["encrypted_payload"].as_str().unwrap(),
        limits["public_key"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(claims["jti"], "tl");
    assert_eq!(claims["triggered_limits"], json!([]));
}

#[tokio::test]
async fn schema_field_order_in_the_claims_is_the_file_order() {
    #[derive(serde::Deserialize)]
    struct Claims {
        configs: Vec<ClaimConfig>,
    }
    #[derive(serde::Deserialize)]
    struct ClaimConfig {
        manual_usage_schema: aicm::schema::RawSchema,
    }
    let api = start().await;
    let body: Value = get_configs(&api, None).await.json().await.unwrap();
    let item = body["service_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["config_id"] == "agent-run")
        .unwrap();
    let key = DecodingKey::from_rsa_pem(TEST_PUBLIC_PEM.as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<Claims>(
        item["encrypted_payload"].as_str().unwrap(),
        &key,
        &validation(),
    )
    .unwrap()
    .claims;
    let names: Vec<&str> = claims.configs[0].manual_usage_schema.names().collect();
    assert_eq!(
        names,
        [
            "steps",
            "tool_calls",
            "outcome",
            "cost-center",
            "type",
            "scores"
        ]
    );
}

#[tokio::test]
async fn an_exact_if_none_match_gets_304_and_a_config_change_a_new_etag() {
    let api = start().await;
    let etag = get_configs(&api, None).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();

    let response = get_configs(&api, Some(&etag)).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    assert!(response.bytes().await.unwrap().is_empty());

    // Not exact: without quotes, or another tag.
    let unquoted = etag.trim_matches('"').to_owned();
    assert_eq!(
        get_configs(&api, Some(&unquoted)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get_configs(&api, Some("\"other\"")).await.status(),
        StatusCode::OK
    );

    api.upsert_config(
        ConfigEntry::from_schema_json("new-config", r#"{"b": "int", "a": "str"}"#)
            .unwrap()
            .last_updated("2025-08-07T00:00:00Z"),
    )
    .unwrap();
    let response = get_configs(&api, Some(&etag)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let new_etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let body: Value = response.json().await.unwrap();
    let claims = config_claims(&body, "new-config").unwrap();
    assert_eq!(claims["configs"][0]["last_updated"], "2025-08-07T00:00:00Z");
    assert_eq!(
        get_configs(&api, Some(&new_etag)).await.status(),
        StatusCode::NOT_MODIFIED
    );

    let stats = api.stats();
    assert_eq!(stats.config_requests, 6);
    assert_eq!(stats.not_modified, 2);
}

#[tokio::test]
async fn token_faults_serve_tokens_a_client_must_refuse() {
    let api = start().await;
    let good: Value = get_configs(&api, None).await.json().await.unwrap();
    assert!(config_claims(&good, "chat-completions").is_ok());
    let good_etag = api.etag();

    let expectations = [
        ("wrong_issuer", ErrorKind::InvalidIssuer),
        ("tampered", ErrorKind::InvalidSignature),
        ("wrong_key", ErrorKind::InvalidSignature),
    ];
    for (fault, kind) in expectations {
        let response = client()
            .post(format!("{}/__faults", api.api_base()))
            .json(&json!({ "token_fault": fault }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_ne!(api.etag(), good_etag, "{fault} must change the ETag");
        let body: Value = get_configs(&api, None).await.json().await.unwrap();
        for config_id in ["chat-completions", "free-form"] {
            let error = config_claims(&body, config_id).unwrap_err();
            assert_eq!(*error.kind(), kind, "{fault} {config_id}");
        }
        let item = &body["service_configs"][0];
        assert_eq!(
            item["public_key"], TEST_PUBLIC_PEM,
            "{fault}: served key unchanged"
        );
        let token = item["encrypted_payload"].as_str().unwrap();
        match fault {
            // Signed by the foreign key: it verifies with the other public key.
            "wrong_key" => assert!(verify(token, OTHER_PUBLIC_PEM).is_ok()),
            // Signed by the right key, only the issuer is wrong.
            "wrong_issuer" => {
                let mut lax = validation();
                lax.iss = None;
                let key = DecodingKey::from_rsa_pem(TEST_PUBLIC_PEM.as_bytes()).unwrap();
                let claims = jsonwebtoken::decode::<Value>(token, &key, &lax)
                    .unwrap()
                    .claims;
                assert_eq!(claims["iss"], aicm_tests::WRONG_ISSUER);
            }
            _ => {}
        }
    }

    api.set_token_fault(None).unwrap();
    let body: Value = get_configs(&api, None).await.json().await.unwrap();
    assert!(config_claims(&body, "chat-completions").is_ok());

    // The triggered-limits token has its own switch.
    api.set_limits_token_fault(Some(TokenFault::Tampered))
        .unwrap();
    let body: Value = get_configs(&api, None).await.json().await.unwrap();
    assert!(config_claims(&body, "chat-completions").is_ok());
    let limits = &body["triggered_limits"];
    let error = verify(
        limits["encrypted_payload"].as_str().unwrap(),
        limits["public_key"].as_str().unwrap(),
    )
    .unwrap_err();
    assert_eq!(*error.kind(), ErrorKind::InvalidSignature);
}

fn sample_limit() -> TriggeredLimit {
    TriggeredLimit {
        event_id: "ev-1".into(),
        limit_id: "lim-1".into(),
        threshold_type: "limit".into(),
        amount: 12.5,
        period: "day".into(),
        vendor: LimitVendor {
            name: Some("openai".into()),
            config_ids: Some(vec!["chat-completions".into()]),
            hostname: None,
        },
        service_id: Some("openai::gpt-4o-mini".into()),
        client_customer_key: Some("c1".into()),
        api_key_id: "local-api-key".into(),
        triggered_at: "2025-08-07T00:00:00Z".into(),
        expires_at: None,
        ..TriggeredLimit::default()
    }
}

fn limits_in(item: &Value) -> Value {
    let claims = verify(
        item["encrypted_payload"].as_str().unwrap(),
        item["public_key"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(claims["jti"], "tl");
    claims["triggered_limits"].clone()
}

#[tokio::test]
async fn triggered_limits_are_served_signed_everywhere() {
    let api = start().await;
    let get_limits = || async {
        let response = client()
            .get(format!("{}/triggered-limits", api.api_root()))
            .header("Authorization", auth(&api))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    assert_eq!(
        limits_in(&get_limits().await["triggered_limits"]),
        json!([])
    );

    let etag = api.etag();
    api.set_triggered_limits(vec![sample_limit()]).unwrap();
    assert_ne!(api.etag(), etag);
    let served = limits_in(&get_limits().await["triggered_limits"]);
    assert_eq!(served[0]["limit_id"], "lim-1");
    assert_eq!(
        served[0]["vendor"]["config_ids"],
        json!(["chat-completions"])
    );
    assert_eq!(served[0]["amount"], 12.5);
    assert_eq!(served[0]["expires_at"], Value::Null);

    // In /configs and in every track-usage answer too.
    let body: Value = get_configs(&api, None).await.json().await.unwrap();
    assert_eq!(limits_in(&body["triggered_limits"])[0]["event_id"], "ev-1");
    let answer: Value = post_track(
        &api,
        &json!({"usage_records": [record("free-form", "t1", json!({}))]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        limits_in(&answer["triggered_limits"])[0]["event_id"],
        "ev-1"
    );

    // The control endpoint replaces them (wrapped or bare list).
    let response = client()
        .post(format!("{}/__triggered_limits", api.api_base()))
        .json(&json!({"triggered_limits": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        limits_in(&get_limits().await["triggered_limits"]),
        json!([])
    );
    let response = client()
        .post(format!("{}/__triggered_limits", api.api_base()))
        .json(&json!([sample_limit()]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        limits_in(&get_limits().await["triggered_limits"])[0]["limit_id"],
        "lim-1"
    );
    assert_eq!(api.stats().triggered_limits_requests, 4);
}

#[tokio::test]
async fn good_records_are_stored_and_answered_with_event_ids() {
    let api = start().await;
    let mut with_options = record(
        "agent-run",
        "b".repeat(32).as_str(),
        json!({
            "steps": [{"a": 1}], "tool_calls": {"search": ["q"]}, "outcome": 3,
            "cost-center": "rnd", "type": null
        }),
    );
    with_options["client_customer_key"] = json!("c1");
    with_options["context"] = json!({"a": 1});
    with_options["base_url"] = json!("https://example.test");
    let body = json!({"usage_records": [
        record("chat-completions", &"a".repeat(32), chat_usage()),
        with_options,
    ]});
    let response = client()
        .post(format!("{}/track-usage", api.api_root()))
        .header("Authorization", auth(&api))
        .header("User-Agent", "aicm-rust/0.1.0")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    let event_ids = answer["event_ids"].as_array().unwrap();
    assert_eq!(event_ids.len(), 2);
    let first = event_ids[0][&"a".repeat(32)].as_str().unwrap();
    let second = event_ids[1][&"b".repeat(32)].as_str().unwrap();
    assert_ne!(first, second);
    assert!(uuid::Uuid::parse_str(first).is_ok());
    assert!(answer["triggered_limits"]["encrypted_payload"].is_string());
    for value in answer["triggered_limits"].as_object().unwrap().values() {
        assert!(
            value.is_string(),
            "the Python SDK wants Dict[str, str]: {value}"
        );
    }

    let records = api.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].event_id, first);
    assert_eq!(records[0].config_id, "chat-completions");
    assert_eq!(records[0].usage["input_tokens"], 10);
    assert_eq!(records[0].client_customer_key, None);
    assert_eq!(records[1].client_customer_key.as_deref(), Some("c1"));
    assert_eq!(records[1].context.as_ref().unwrap()["a"], 1);
    assert_eq!(records[1].base_url.as_deref(), Some("https://example.test"));

    let stats = api.stats();
    assert_eq!((stats.track_requests, stats.accepted_requests), (1, 1));
    assert_eq!((stats.records_received, stats.records_stored), (2, 2));
    assert_eq!(stats.last_user_agent.as_deref(), Some("aicm-rust/0.1.0"));
    assert_eq!(stats.last_authorized, Some(true));

    let listed: Value = client()
        .get(format!("{}/__records", api.api_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["records"][1]["event_id"], second);
    assert_eq!(listed["records"][1]["usage"]["cost-center"], "rnd");
    let served_stats: Value = client()
        .get(format!("{}/__stats", api.api_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in [
        "requests",
        "track_requests",
        "records_stored",
        "duplicates",
        "rejected_requests",
    ] {
        assert!(served_stats[key].is_u64(), "{key} in {served_stats}");
    }
    assert_eq!(served_stats["records_stored"], 2);
}

#[tokio::test]
async fn a_repeated_response_id_is_a_duplicate_answered_with_the_original_event_id() {
    let api = start().await;
    let rid = "c49869882f37469c9f4c4faa8caa020b";
    let answer: Value = post_track(
        &api,
        &json!({"usage_records": [record("chat-completions", rid, chat_usage())]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let original = answer["event_ids"][0][rid].as_str().unwrap().to_owned();

    // Again, alone and twice within one batch beside a new record.
    let answer: Value = post_track(
        &api,
        &json!({"usage_records": [
            record("chat-completions", rid, chat_usage()),
            record("free-form", "new-id", json!({"x": 1})),
            record("free-form", "new-id", json!({"x": 2})),
        ]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answer["event_ids"][0][rid], original.as_str());
    assert_eq!(
        answer["event_ids"][1]["new-id"],
        answer["event_ids"][2]["new-id"]
    );

    let stats = api.stats();
    assert_eq!(stats.records_stored, 2);
    assert_eq!(stats.duplicates, 2);
    assert_eq!(stats.records_received, 4);
    let records = api.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].usage["x"], 1, "the first copy is kept");
}

#[tokio::test]
async fn a_bad_batch_gets_422_naming_each_bad_record_and_stores_nothing() {
    let api = start().await;
    let mut unknown_key = record("free-form", "r3", json!({}));
    unknown_key["colour"] = json!("red");
    let mut null_context = record("free-form", "r4", json!({}));
    null_context["context"] = Value::Null;
    let mut no_service = record("free-form", "r5", json!({}));
    no_service.as_object_mut().unwrap().remove("service_id");
    let mut bad_time = record("free-form", "r6", json!({}));
    bad_time["timestamp"] = json!("2025-08-07 20:41:59");
    let body = json!({"usage_records": [
        record("chat-completions", "r0", chat_usage()),
        record("chat-completions", "r1", json!({"input_tokens": "ten", "output_tokens": 3,
                                                 "model": "m", "extra": 1})),
        record("no-such-config", "r2", json!({})),
        unknown_key,
        null_context,
        no_service,
        bad_time,
        record("free-form", "", json!({})),
        record("free-form", "r8", json!([1, 2])),
        json!("not an object"),
    ]});
    let response = post_track(&api, &body).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], "validation_error");
    assert!(
        answer["message"].as_str().unwrap().contains("9 of 10"),
        "{answer}"
    );
    let details = answer["details"].as_array().unwrap();
    let indices: Vec<u64> = details
        .iter()
        .map(|d| d["record"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for detail in details {
        assert!(
            detail["field"].is_string() && detail["message"].is_string(),
            "{detail}"
        );
    }
    let fields = |i: usize| -> Vec<String> {
        details[i - 1]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(details[0]["response_id"], "r1");
    let record1 = fields(1);
    for f in ["usage.input_tokens", "usage.cached", "usage.extra"] {
        assert!(
            record1.contains(&format!("usage_records[1].{f}")),
            "{f}: {record1:?}"
        );
    }
    assert_eq!(fields(2), ["usage_records[2].config_id"]);
    assert_eq!(fields(3), ["usage_records[3].colour"]);
    assert_eq!(fields(4), ["usage_records[4].context"]);
    assert_eq!(fields(5), ["usage_records[5].service_id"]);
    assert_eq!(fields(6), ["usage_records[6].timestamp"]);
    assert_eq!(fields(7), ["usage_records[7].response_id"]);
    assert_eq!(fields(8), ["usage_records[8].usage"]);
    assert_eq!(fields(9), ["usage_records[9]"]);

    assert!(
        api.records().is_empty(),
        "nothing of a rejected batch is stored"
    );
    let stats = api.stats();
    assert_eq!(stats.records_stored, 0);
    assert_eq!(stats.rejected_requests, 1);
    assert_eq!(stats.rejected_records, 9);
    assert_eq!(stats.records_received, 10);

    // The good record alone goes through afterwards: it was not stored before.
    let response = post_track(
        &api,
        &json!({"usage_records": [record("chat-completions", "r0", chat_usage())]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.stats().duplicates, 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_gets_400_and_a_wrong_shape_422() {
    let api = start().await;
    let response = client()
        .post(format!("{}/track-usage", api.api_root()))
        .header("Authorization", auth(&api))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_json");

    for body in [
        json!([]),
        json!({"records": []}),
        json!({"usage_records": {}}),
    ] {
        let response = post_track(&api, &body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let answer: Value = response.json().await.unwrap();
        assert!(answer["details"][0]["field"].is_string(), "{answer}");
    }
    assert_eq!(api.stats().rejected_requests, 4);
}

#[tokio::test]
async fn control_reset_forgets_records_stats_and_faults_but_keeps_configs() {
    let api = start().await;
    post_track(
        &api,
        &json!({"usage_records": [record("free-form", "r1", json!({}))]}),
    )
    .await;
    api.drop_next(3);
    api.upsert_config(ConfigEntry::new("kept", [("n", "int")]))
        .unwrap();
    let response = client()
        .post(format!("{}/__reset", api.api_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.stats(), aicm_tests::Stats::default());
    assert!(api.records().is_empty());
    assert_eq!(api.faults(), aicm_tests::Faults::default());
    assert!(api.configs().config("kept").is_some());
    // Dedup ids are forgotten too: the same id is stored again.
    let answer = post_track(
        &api,
        &json!({"usage_records": [record("free-form", "r1", json!({}))]}),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(api.stats().records_stored, 1);
}

#[tokio::test]
async fn control_configs_replaces_the_served_configs() {
    let api = start().await;
    let etag = api.etag();
    let response = client()
        .post(format!("{}/__configs", api.api_base()))
        .json(&json!({"configs": [{"config_id": "only", "manual_usage_schema": {"n": "int"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["etag"], api.etag().as_str());
    assert_ne!(api.etag(), etag);
    let body: Value = get_configs(&api, None).await.json().await.unwrap();
    assert_eq!(body["service_configs"].as_array().unwrap().len(), 1);
    assert_eq!(
        config_claims(&body, "only").unwrap()["configs"][0]["manual_usage_schema"],
        json!({"n": "int"})
    );

    let response = client()
        .post(format!("{}/__configs", api.api_base()))
        .json(&json!({"configs": [{"config_id": "bad", "manual_usage_schema": {"n": "List[int"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        api.configs().config("only").is_some(),
        "a bad document changes nothing"
    );
}

#[test]
fn configs_documents_are_checked_when_loaded() {
    let fixture = ConfigsFile::from_path(aicm_tests::fixture_configs_path()).unwrap();
    assert_eq!(fixture, ConfigsFile::fixture());
    assert_eq!(fixture.api_key, "sk-local-test");
    assert_eq!(fixture.configs.len(), 4);
    let chat = fixture.config("chat-completions").unwrap();
    assert_eq!(chat.service_id.as_deref(), Some("openai::gpt-4o-mini"));
    assert_eq!(chat.last_updated_or_default(), "1970-01-01T00:00:00Z");
    let names: Vec<&str> = chat
        .manual_usage_schema
        .as_ref()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "input_tokens",
            "output_tokens",
            "model",
            "cached",
            "latency_ms"
        ]
    );
    assert_eq!(chat.uuid_or_derived(), chat.clone().uuid_or_derived());
    assert_ne!(chat.uuid_or_derived(), fixture.configs[1].uuid_or_derived());

    let bad_type = r#"{"api_key": "k", "configs": [{"config_id": "c", "manual_usage_schema": {"a": "Lst[int]"}}]}"#;
    match ConfigsFile::from_json_str(bad_type) {
        Err(LocalApiError::Schema { config_id, source }) => {
            assert_eq!(config_id, "c");
            assert!(source.to_string().contains('a'), "{source}");
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
    let duplicate = r#"{"api_key": "k", "configs": [{"config_id": "c"}, {"config_id": "c"}]}"#;
    assert!(matches!(
        ConfigsFile::from_json_str(duplicate),
        Err(LocalApiError::DuplicateConfig(id)) if id == "c"
    ));
    let not_a_string =
        r#"{"api_key": "k", "configs": [{"config_id": "c", "manual_usage_schema": {"a": 1}}]}"#;
    assert!(matches!(
        ConfigsFile::from_json_str(not_a_string),
        Err(LocalApiError::ConfigsJson(_))
    ));
    assert!(matches!(
        ConfigsFile::from_path("/nonexistent/configs.json"),
        Err(LocalApiError::Read { .. })
    ));
    // The API key never shows in Debug output.
    let debug = format!("{:?}", ConfigsFile::new("sk-secret-value"));
    assert!(!debug.contains("sk-secret-value"), "{debug}");
}

#[tokio::test]
async fn another_key_pair_and_api_key_can_be_used() {
    let keys = aicm_tests::Keys::other().unwrap().with_key_id("k2");
    let api = LocalApi::builder()
        .keys(keys)
        .api_key("sk-other")
        .start()
        .await
        .unwrap();
    assert_eq!(api.api_key(), "sk-other");
    let body: Value = get_configs(&api, None).await.json().await.unwrap();
    let item = &body["service_configs"][0];
    assert_eq!(item["key_id"], "k2");
    assert_eq!(item["public_key"], OTHER_PUBLIC_PEM);
    let token = item["encrypted_payload"].as_str().unwrap();
    assert!(verify(token, OTHER_PUBLIC_PEM).is_ok());
    assert_eq!(
        *verify(token, TEST_PUBLIC_PEM).unwrap_err().kind(),
        ErrorKind::InvalidSignature
    );
    let keys_dir = aicm_tests::keys_dir();
    assert!(
        aicm_tests::Keys::from_files(
            keys_dir.join("test_private.pem"),
            keys_dir.join("test_public.pem")
        )
        .is_ok()
    );
    assert!(aicm_tests::Keys::from_pem("not a key", TEST_PUBLIC_PEM).is_err());
}

/// One HTTP/1.1 request over a plain socket: proves the thread-backed server needs no
/// runtime on the caller's side.
fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_thread_backed_server_works_without_a_runtime_and_stops_on_drop() {
    let api = LocalApi::start_in_thread().unwrap();
    let addr = api.addr();
    let answer = raw_get(addr, "/__stats");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"requests\":0"), "{answer}");
    let answer = raw_get(addr, "/api/v1/configs");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(api.wait_for_blocking(WAIT, |s| s.unauthorized == 1).is_ok());
    // A waiter that cannot be satisfied returns the last stats after the timeout.
    let timed_out = api
        .wait_for_blocking(Duration::from_millis(50), |s| s.records_stored == 1)
        .unwrap_err();
    assert_eq!(timed_out.last.unauthorized, 1);
    drop(api);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is closed once the server is dropped"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_thread_backed_server_serves_a_current_thread_runtime() {
    let api = LocalApi::builder().start_in_thread().unwrap();
    let response = client()
        .get(format!("{}/configs", api.api_root()))
        .header("Authorization", format!("Bearer {}", api.api_key()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let stats = api
        .wait_for(WAIT, |s| s.config_requests == 1)
        .await
        .unwrap();
    assert_eq!(stats.requests, 1);
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let api = start().await;
    let addr = api.addr();
    api.shutdown().await;
    // Polled with a deadline: tests in this binary start servers in parallel, and one of them
    // may briefly be handed the freed port by the kernel; the port must end up closed to us.
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} still accepts connections after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_prints_its_address_first_and_serves_the_configs_file() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("aicm-local-api-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("configs.json");
    std::fs::write(
        &path,
        r#"{"api_key": "sk-bin", "configs": [{"config_id": "cfg", "service_id": "svc",
            "api_id": "manual", "manual_usage_schema": {"tokens": "int"}}]}"#,
    )
    .unwrap();
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_aicm-local-api"))
            .args(["--port", "0", "--configs"])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("listening on http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = base.parse().unwrap();
    assert_ne!(port, 0);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET /api/v1/configs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-bin\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"config_id\":\"cfg\""), "{answer}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_binary_fails_clearly_on_a_bad_configs_file() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aicm-local-api"))
        .args(["--port", "0", "--configs", "/nonexistent/configs.json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/configs.json"), "{stderr}");
}

// ---- POST /track: today's contract (shared/API-TRACK.md) ----

const TIMESTAMP: &str = "2026-12-06T08:41:59.566193+00:00";

async fn post_tracked(api: &LocalApiHandle, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/track", api.api_root()))
        .header("Authorization", auth(api))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A `/track` record with the required keys only.
fn tracked(service_key: &str, response_id: &str, payload: Value) -> Value {
    json!({
        "service_key": service_key,
        "response_id": response_id,
        "timestamp": TIMESTAMP,
        "payload": payload,
    })
}

fn statuses(answer: &Value) -> Vec<(String, String)> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {answer}"))
        .iter()
        .map(|r| {
            (
                r["response_id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_track_batch_is_stored_with_exactly_the_fields_sent() {
    let api = start().await;
    let mut full = tracked(
        "openai::gpt-5-mini",
        "91087a6419aa40ef8248de68bb21c131",
        json!({"input_tokens": 10, "output_tokens": 20, "note": [1, "x"]}),
    );
    full["customer_key"] = json!("acme");
    full["context"] = json!({"env": "prod"});
    let mut epoch_text = tracked("internal::misc", "resp-epoch-text", json!({}));
    epoch_text["timestamp"] = json!("1754600519.566193");
    let mut epoch_number = tracked("deepgram::nova-2", "resp-epoch-number", json!({"s": 1.5}));
    epoch_number["timestamp"] = json!(1754600519.566193);
    let body = json!({"tracked": [
        full,
        tracked("openai::gpt-4o-mini", "msg_01", json!({"anything": {"goes": true}})),
        epoch_text,
        epoch_number,
    ]});
    let response = client()
        .post(format!("{}/track", api.api_root()))
        .header("Authorization", auth(&api))
        .header("User-Agent", "aicm-rust/0.2.0")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        statuses(&answer),
        pairs(&[
            ("91087a6419aa40ef8248de68bb21c131", "queued"),
            ("msg_01", "queued"),
            ("resp-epoch-text", "queued"),
            ("resp-epoch-number", "queued"),
        ])
    );
    for result in answer["results"].as_array().unwrap() {
        assert_eq!(
            result.as_object().unwrap().len(),
            2,
            "queued: no errors: {result}"
        );
    }
    assert_eq!(limits_in(&answer["triggered_limits"]), json!([]));

    let records = api.records();
    assert_eq!(records.len(), 4);
    let expected = aicm_tests::StoredRecord {
        event_id: records[0].event_id.clone(),
        config_id: String::new(),
        service_id: "openai::gpt-5-mini".into(),
        timestamp: TIMESTAMP.into(),
        response_id: "91087a6419aa40ef8248de68bb21c131".into(),
        usage: json!({"input_tokens": 10, "output_tokens": 20, "note": [1, "x"]})
            .as_object()
            .unwrap()
            .clone(),
        client_customer_key: Some("acme".into()),
        context: json!({"env": "prod"}).as_object().cloned(),
        base_url: None,
        endpoint: "track".into(),
    };
    assert_eq!(records[0], expected);
    assert!(uuid::Uuid::parse_str(&records[0].event_id).is_ok());
    assert_eq!(records[1].service_id, "openai::gpt-4o-mini");
    assert_eq!(records[1].usage["anything"], json!({"goes": true}));
    assert_eq!(records[1].client_customer_key, None);
    assert_eq!(records[1].context, None);
    assert_eq!(records[2].timestamp, "1754600519.566193");
    assert_eq!(
        records[3].timestamp, "1754600519.566193",
        "a number is kept as its text"
    );
    assert!(records.iter().all(|r| r.endpoint == "track"));

    let stats = api.stats();
    assert_eq!(
        (
            stats.track_requests,
            stats.track_endpoint_requests,
            stats.track_usage_requests
        ),
        (1, 1, 0)
    );
    assert_eq!((stats.accepted_requests, stats.requests), (1, 1));
    assert_eq!((stats.records_received, stats.records_stored), (4, 4));
    assert_eq!(stats.last_user_agent.as_deref(), Some("aicm-rust/0.2.0"));

    // The control endpoint lists them with their endpoint.
    let listed: Value = client()
        .get(format!("{}/__records", api.api_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["records"][0]["endpoint"], "track");
    assert_eq!(listed["records"][0]["service_id"], "openai::gpt-5-mini");
    // Records serialised before `endpoint` existed still parse.
    let old: aicm_tests::StoredRecord = serde_json::from_value(json!({
        "event_id": "e", "config_id": "c", "service_id": "s", "timestamp": TIMESTAMP,
        "response_id": "r", "usage": {}
    }))
    .unwrap();
    assert_eq!(old.endpoint, "");
}

#[tokio::test]
async fn track_answers_each_record_queued_service_key_unknown_or_error() {
    let api = start().await;
    api.set_poison_key(Some("poison"));
    let body = json!({"tracked": [
        tracked("openai::gpt-4o-mini", "by-config", json!({"t": 1})),
        tracked("anthropic::claude-sonnet-4", "by-service-keys", json!({"t": 2})),
        tracked("unknown::service", "resp-456", json!({"t": 3})),
        tracked("openai::gpt-4o", "poisoned", json!({"poison": 1})),
    ]});
    let response = post_tracked(&api, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        statuses(&answer),
        pairs(&[
            ("by-config", "queued"),
            ("by-service-keys", "queued"),
            ("resp-456", "service_key_unknown"),
            ("poisoned", "error"),
        ])
    );
    let results = answer["results"].as_array().unwrap();
    assert_eq!(
        results[2]["errors"],
        json!(["Service key 'unknown::service' is not recognized. Event queued for review."])
    );
    assert_eq!(
        results[3]["errors"],
        json!(["poisoned key 'poison' (fault injection)"])
    );
    let stored: Vec<String> = api.records().into_iter().map(|r| r.response_id).collect();
    assert_eq!(stored, ["by-config", "by-service-keys"]);
    let stats = api.stats();
    assert_eq!(stats.records_received, 4);
    assert_eq!(stats.records_stored, 2);
    assert_eq!(stats.records_service_key_unknown, 1);
    assert_eq!(stats.records_error, 1);
    assert_eq!(stats.accepted_requests, 1);
    assert_eq!((stats.rejected_requests, stats.rejected_records), (0, 0));

    // Service keys are steered like configs: from Rust, and through the control endpoint.
    api.add_service_key("unknown::service").unwrap();
    assert!(api.configs().knows_service_key("unknown::service"));
    let answer: Value = post_tracked(
        &api,
        &json!({"tracked": [tracked("unknown::service", "resp-456", json!({}))]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(statuses(&answer), pairs(&[("resp-456", "queued")]));
    let response = client()
        .post(format!("{}/__configs", api.api_base()))
        .json(&json!({"configs": [], "service_keys": ["custom::only"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let listed: Value = client()
        .get(format!("{}/__configs", api.api_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["service_keys"], json!(["custom::only"]));
    let answer: Value = post_tracked(
        &api,
        &json!({"tracked": [
            tracked("custom::only", "c1", json!({})),
            tracked("openai::gpt-4o-mini", "c2", json!({})),
        ]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        statuses(&answer),
        pairs(&[("c1", "queued"), ("c2", "service_key_unknown")])
    );
}

#[tokio::test]
async fn response_ids_deduplicate_across_track_and_track_usage() {
    let api = start().await;
    let answer: Value = post_track(
        &api,
        &json!({"usage_records": [record("free-form", "shared-1", json!({"x": 1}))]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let event_id = answer["event_ids"][0]["shared-1"]
        .as_str()
        .unwrap()
        .to_owned();

    // /track sees the /track-usage record: queued again, not stored again.
    let answer: Value = post_tracked(
        &api,
        &json!({"tracked": [
            tracked("internal::misc", "shared-1", json!({"x": 2})),
            tracked("internal::misc", "shared-2", json!({"y": 1})),
            tracked("internal::misc", "shared-2", json!({"y": 2})),
        ]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        statuses(&answer),
        pairs(&[
            ("shared-1", "queued"),
            ("shared-2", "queued"),
            ("shared-2", "queued")
        ])
    );

    // /track-usage sees the /track record: answered with the event id it was given.
    let answer: Value = post_track(
        &api,
        &json!({"usage_records": [record("free-form", "shared-2", json!({"y": 3}))]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let records = api.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].event_id, event_id);
    assert_eq!(records[0].usage["x"], 1, "the first copy is kept");
    assert_eq!(records[0].endpoint, "track-usage");
    assert_eq!(records[1].endpoint, "track");
    assert_eq!(records[1].usage["y"], 1);
    assert_eq!(
        answer["event_ids"][0]["shared-2"],
        records[1].event_id.as_str()
    );

    let stats = api.stats();
    assert_eq!(stats.records_stored, 2);
    assert_eq!(stats.duplicates, 3);
    assert_eq!(stats.records_received, 5);
    assert_eq!(
        (
            stats.track_requests,
            stats.track_usage_requests,
            stats.track_endpoint_requests
        ),
        (3, 2, 1)
    );
    assert_eq!(stats.accepted_requests, 3);
}

#[tokio::test]
async fn a_bad_track_batch_gets_422_naming_each_bad_record_and_stores_nothing() {
    let api = start().await;
    let good = tracked("openai::gpt-4o-mini", "good", json!({"t": 1}));
    let mut old_key = tracked("openai::gpt-4o-mini", "r1", json!({}));
    old_key["client_customer_key"] = json!("c1");
    let mut null_customer = tracked("openai::gpt-4o-mini", "r2", json!({}));
    null_customer["customer_key"] = Value::Null;
    let old_record = record("free-form", "r3", json!({}));
    let mut bad_time = tracked("openai::gpt-4o-mini", "r4", json!({}));
    bad_time["timestamp"] = json!("2026-12-06 08:41:59");
    let mut no_payload = tracked("openai::gpt-4o-mini", "r5", json!({}));
    no_payload.as_object_mut().unwrap().remove("payload");
    let body = json!({"tracked": [
        good.clone(),
        old_key,
        null_customer,
        old_record,
        bad_time,
        no_payload,
        tracked("", "r6", json!({})),
        tracked("openai::gpt-4o-mini", "", json!({})),
        tracked("openai::gpt-4o-mini", "r8", json!([1])),
    ]});
    let response = post_tracked(&api, &body).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "validation_error");
    assert!(answer.get("error").is_none(), "today's shape: {answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("8 of 9"),
        "{answer}"
    );
    let errors = answer["errors"].as_array().unwrap();
    let indices: Vec<u64> = errors
        .iter()
        .map(|e| e["record"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [1, 2, 3, 4, 5, 6, 7, 8]);
    let fields = |i: usize| -> Vec<String> {
        let mut fields: Vec<String> = errors[i - 1]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap().to_owned())
            .collect();
        fields.sort();
        fields
    };
    assert_eq!(errors[0]["response_id"], "r1");
    assert_eq!(fields(1), ["tracked[1].client_customer_key"]);
    assert_eq!(fields(2), ["tracked[2].customer_key"]);
    assert_eq!(
        fields(3),
        [
            "tracked[3].config_id",
            "tracked[3].payload",
            "tracked[3].service_id",
            "tracked[3].service_key",
            "tracked[3].usage",
        ]
    );
    assert_eq!(fields(4), ["tracked[4].timestamp"]);
    assert_eq!(fields(5), ["tracked[5].payload"]);
    assert_eq!(fields(6), ["tracked[6].service_key"]);
    assert_eq!(fields(7), ["tracked[7].response_id"]);
    assert_eq!(fields(8), ["tracked[8].payload"]);
    assert!(
        api.records().is_empty(),
        "nothing of a refused batch is stored"
    );
    let stats = api.stats();
    assert_eq!(stats.records_stored, 0);
    assert_eq!((stats.rejected_requests, stats.rejected_records), (1, 8));
    assert_eq!(stats.records_received, 9);

    // Refused bodies: shape and size.
    let too_many: Vec<Value> = (0..1_001)
        .map(|i| tracked("openai::gpt-4o-mini", &format!("big-{i}"), json!({})))
        .collect();
    let refused = [
        json!({"tracked": []}),
        json!({"tracked": too_many}),
        json!({"tracked": [good.clone()], "usage_records": []}),
        json!({"tracked": {}}),
        json!({"records": [good.clone()]}),
        json!({"tracked": [good.clone()], "skip_limits": "yes"}),
        json!([good.clone()]),
    ];
    for body in &refused {
        let response = post_tracked(&api, body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body:.80}"
        );
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], "validation_error", "{answer}");
        assert!(answer["detail"].is_string(), "{answer}");
        assert!(answer["errors"][0]["field"].is_string(), "{answer}");
    }
    assert!(api.records().is_empty());
    let stats = api.stats();
    assert_eq!(stats.records_stored, 0);
    assert_eq!(stats.rejected_requests, 1 + refused.len() as u64);
    assert_eq!(stats.accepted_requests, 0);

    // 1,000 records is the limit, not over it; `skip_limits` is accepted.
    let thousand: Vec<Value> = (0..1_000)
        .map(|i| tracked("openai::gpt-4o-mini", &format!("big-{i}"), json!({})))
        .collect();
    let response = post_tracked(&api, &json!({"tracked": thousand, "skip_limits": true})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["results"].as_array().unwrap().len(), 1_000);
    assert_eq!(api.stats().records_stored, 1_000);

    // The good record alone goes through: it was not stored by the refused batch.
    let answer: Value = post_tracked(&api, &json!({"tracked": [good]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&answer), pairs(&[("good", "queued")]));
    assert_eq!(api.stats().duplicates, 0);
}

#[tokio::test]
async fn a_track_body_that_is_not_json_gets_400_with_detail_and_a_bad_key_401() {
    let api = start().await;
    let response = client()
        .post(format!("{}/track", api.api_root()))
        .header("Authorization", auth(&api))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "invalid_json");
    assert!(
        answer["detail"].as_str().unwrap().contains("not JSON"),
        "{answer}"
    );
    assert!(answer.get("error").is_none(), "{answer}");

    for header in [None, Some("Bearer wrong-key")] {
        let mut request = client()
            .post(format!("{}/track", api.api_root()))
            .json(&json!({"tracked": [tracked("openai::gpt-4o-mini", "r", json!({}))]}));
        if let Some(header) = header {
            request = request.header("Authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], "unauthorized");
        assert!(answer["detail"].is_string(), "{answer}");
        assert!(!answer.to_string().contains("wrong-key"), "{answer}");
    }
    let stats = api.stats();
    assert_eq!(stats.rejected_requests, 3);
    assert_eq!(stats.unauthorized, 2);
    assert_eq!(stats.track_endpoint_requests, 3);
    assert!(api.records().is_empty());
}

#[tokio::test]
async fn faults_apply_to_track_as_to_track_usage() {
    let api = start().await;
    let body = |rid: &str| json!({"tracked": [tracked("openai::gpt-4o-mini", rid, json!({}))]});

    api.fail_next(1, 503);
    let response = post_tracked(&api, &body("f1")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "injected_failure");
    assert!(answer["detail"].is_string(), "{answer}");

    api.rate_limit_next(1, 7);
    let response = post_tracked(&api, &body("f1")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "rate_limited");

    api.drop_next(1);
    let error = client()
        .post(format!("{}/track", api.api_root()))
        .header("Authorization", auth(&api))
        .json(&body("f1"))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_status(), "{error}");
    assert!(api.records().is_empty(), "no fault so far stored anything");

    api.drop_after_store_next(1);
    let error = client()
        .post(format!("{}/track", api.api_root()))
        .header("Authorization", auth(&api))
        .json(&body("f1"))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_status(), "{error}");
    assert_eq!(
        api.records().len(),
        1,
        "stored before the connection was cut"
    );
    // The client's retry is a duplicate: queued, not stored twice.
    let answer: Value = post_tracked(&api, &body("f1")).await.json().await.unwrap();
    assert_eq!(statuses(&answer), pairs(&[("f1", "queued")]));

    let stats = api.stats();
    assert_eq!(stats.faults_injected, 4);
    assert_eq!(stats.dropped_connections, 2);
    assert_eq!(stats.track_endpoint_requests, 5);
    assert_eq!(stats.track_requests, 5);
    assert_eq!((stats.records_stored, stats.duplicates), (1, 1));
    assert_eq!(stats.accepted_requests, 2, "drop-after-store processed it");

    // A stall holds /track requests until it is lifted.
    api.set_stall(true);
    let held = tokio::spawn({
        let url = format!("{}/track", api.api_root());
        let key = auth(&api);
        let body = body("f2");
        async move {
            client()
                .post(url)
                .header("Authorization", key)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    api.wait_for(WAIT, |s| s.track_endpoint_requests == 6)
        .await
        .unwrap();
    assert_eq!(api.records().len(), 1, "a stalled request is not looked at");
    api.set_stall(false);
    assert_eq!(held.await.unwrap(), StatusCode::OK);
    assert_eq!(api.records().len(), 2);
}

async fn request(
    api: &LocalApiHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client()
        .request(method, format!("{}{path}", api.api_root()))
        .header("Authorization", auth(api));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn protocol_track_removes_configs_and_track_usage() {
    let api = LocalApi::builder()
        .protocol(aicm_tests::Protocol::Track)
        .start()
        .await
        .unwrap();
    assert_eq!(api.protocol(), aicm_tests::Protocol::Track);
    let old_body = json!({"usage_records": [record("free-form", "r1", json!({}))]});
    let (status, body) = request(&api, reqwest::Method::GET, "/configs", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
    let (status, body) = request(
        &api,
        reqwest::Method::POST,
        "/track-usage",
        Some(old_body.clone()),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
    // Whatever the key: the route does not exist.
    let response = client()
        .get(format!("{}/configs", api.api_root()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let (status, body) = request(&api, reqwest::Method::GET, "/triggered-limits", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(limits_in(&body["triggered_limits"]), json!([]));
    let (status, body) = request(
        &api,
        reqwest::Method::POST,
        "/track",
        Some(json!({"tracked": [tracked("openai::gpt-4o-mini", "t1", json!({}))]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(statuses(&body), pairs(&[("t1", "queued")]));

    let stats = api.stats();
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.config_requests, 0);
    assert_eq!(stats.track_usage_requests, 0);
    assert_eq!(
        (stats.track_requests, stats.track_endpoint_requests),
        (1, 1)
    );
    assert_eq!(stats.triggered_limits_requests, 1);
    assert_eq!(stats.records_stored, 1);
}

#[tokio::test]
async fn protocol_configs_removes_track_and_both_serves_everything() {
    let api = LocalApi::builder()
        .protocol(aicm_tests::Protocol::Configs)
        .start()
        .await
        .unwrap();
    assert_eq!(api.protocol(), aicm_tests::Protocol::Configs);
    let track_body = json!({"tracked": [tracked("openai::gpt-4o-mini", "t1", json!({}))]});
    let (status, _) = request(
        &api,
        reqwest::Method::POST,
        "/track",
        Some(track_body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = request(&api, reqwest::Method::GET, "/configs", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = request(
        &api,
        reqwest::Method::POST,
        "/track-usage",
        Some(json!({"usage_records": [record("free-form", "r1", json!({}))]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = request(&api, reqwest::Method::GET, "/triggered-limits", None).await;
    assert_eq!(status, StatusCode::OK);
    let stats = api.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.track_endpoint_requests, 0);
    assert_eq!((stats.track_requests, stats.track_usage_requests), (1, 1));
    assert_eq!(stats.records_stored, 1);

    let api = start().await;
    assert_eq!(api.protocol(), aicm_tests::Protocol::Both);
    let (status, _) = request(&api, reqwest::Method::POST, "/track", Some(track_body)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = request(&api, reqwest::Method::GET, "/configs", None).await;
    assert_eq!(status, StatusCode::OK);
}

/// One HTTP/1.1 request with an optional JSON body over a plain socket; the whole answer.
fn raw_request(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-local-test\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_binary_takes_a_protocol() {
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_aicm-local-api"))
            .args(["--port", "0", "--protocol", "track"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim_end()
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let answer = raw_request(addr, "GET", "/api/v1/configs", "");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.ends_with(r#"{"detail":"Not Found"}"#), "{answer}");
    let body = json!({"tracked": [tracked("openai::gpt-5-mini", "b1", json!({"t": 1}))]});
    let answer = raw_request(addr, "POST", "/api/v1/track", &body.to_string());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(r#"{"response_id":"b1","status":"queued"}"#),
        "{answer}"
    );

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aicm-local-api"))
        .args(["--port", "0", "--protocol", "nope"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--protocol"), "{stderr}");
}
