//! The generated structs of `aicm_examples::usage` (committed output of `aicm-codegen`) go
//! through a real Tracker to the local API and arrive with the schema's field names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use aicm::Tracker;
use aicm_examples::usage::{AgentRunUsage, AgentRunUsageOutcome, ChatCompletionsUsage};
use aicm_tests::{LocalApi, LocalApiThread};
use serde_json::json;

fn tracker(api: &LocalApiThread, dir: &std::path::Path, config_id: &str) -> Tracker {
    Tracker::builder(config_id, "svc")
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(dir.join("AICM.INI"))
        .build()
        .unwrap()
}

#[test]
fn generated_structs_are_tracked_with_their_schema_names() {
    let api = LocalApi::builder().start_in_thread().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chat = tracker(&api, dir.path(), "chat-completions");
    chat.track(ChatCompletionsUsage {
        input_tokens: 10,
        output_tokens: 2,
        model: "m".into(),
        cached: true,
        latency_ms: None,
    })
    .unwrap();
    let agent = tracker(&api, dir.path(), "agent-run");
    agent
        .track(&AgentRunUsage {
            steps: vec![BTreeMap::from([("n".to_owned(), 1)])],
            tool_calls: BTreeMap::new(),
            outcome: AgentRunUsageOutcome::Int(3),
            cost_center: "r&d".into(),
            r#type: Some("batch".into()),
            scores: Some(vec![0.5]),
        })
        .unwrap();
    chat.close().unwrap();
    agent.close().unwrap();
    api.wait_for_blocking(Duration::from_secs(10), |s| s.records_stored >= 2)
        .unwrap();
    let records = api.records();
    let usage = |config: &str| {
        serde_json::Value::Object(
            records
                .iter()
                .find(|r| r.config_id == config)
                .unwrap()
                .usage
                .clone(),
        )
    };
    assert_eq!(
        usage("chat-completions"),
        json!({"input_tokens": 10, "output_tokens": 2, "model": "m", "cached": true})
    );
    assert_eq!(
        usage("agent-run"),
        json!({"steps": [{"n": 1}], "tool_calls": {}, "outcome": 3, "cost-center": "r&d",
               "type": "batch", "scores": [0.5]})
    );
}
