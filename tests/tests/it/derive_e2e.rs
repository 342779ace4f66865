//! `#[derive(Usage)]` records end to end, against the local API over real HTTP on loopback:
//! typed records (owned, borrowed) put the same bytes on the wire as the same dynamic records,
//! and a type compiled against another schema is refused with a `SchemaMismatch` that names
//! every difference, before anything is sent.

// The capture proxy below is test support, held to the tests' unwrap rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aicm::{TrackError, TrackOptions, Usage};
use serde::Serialize;
use serde_json::{Value, json};
use support::{DEADLINE, builder, server};

/// `chat-completions`, fields in alphabetical order so that a dynamic `serde_json::Map` (which
/// sorts its keys unless serde_json's `preserve_order` is on) writes them in the same order.
#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str", "cached": "bool",
                 "latency_ms": "Optional[float]"}"#,
    config_id = "chat-completions"
)]
struct ChatUsage {
    cached: bool,
    input_tokens: u64,
    latency_ms: Option<f64>,
    model: String,
    output_tokens: u64,
}

/// The same record, borrowed (`&T` goes through the generic `IntoUsage for &T`, the owned
/// record through its derived impl).
#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"input_tokens": "int", "output_tokens": "int", "model": "str", "cached": "bool",
                     "latency_ms": "Optional[float]"}"#
)]
struct ChatUsageRef<'a> {
    cached: bool,
    input_tokens: u64,
    latency_ms: Option<f64>,
    model: &'a str,
    output_tokens: u64,
}

/// `agent-run`: nested generics, a union through `Value`, names that are not identifiers, a
/// skipped field.
#[derive(Serialize, Usage)]
#[usage(
    schema = r#"{"steps": "List[Dict[str, int]]", "tool_calls": "Dict[str, List[str]]",
    "outcome": "Union[str, int]", "cost-center": "str", "type": "Optional[str]",
    "scores": "Optional[List[float]]"}"#
)]
struct AgentRun<'a> {
    #[serde(rename = "cost-center")]
    cost_center: &'a str,
    outcome: Value,
    scores: Option<Vec<f64>>,
    steps: Vec<std::collections::BTreeMap<&'a str, i64>>,
    tool_calls: std::collections::BTreeMap<String, Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<&'a str>,
}

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_754_600_000)
}

fn options(id: &str) -> TrackOptions {
    TrackOptions::new()
        .response_id(id)
        .timestamp(at())
        .client_customer_key("acme")
        .context(json!({"request": "r-1"}))
}

const OWNED: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BORROWED: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const DYNAMIC: &str = "cccccccccccccccccccccccccccccccc";

#[test]
fn typed_records_send_the_same_bytes_as_dynamic_ones() {
    let api = server();
    let proxy = CaptureProxy::start(api.addr());
    let tracker = builder(&api, "chat-completions")
        .api_base(proxy.base())
        .build()
        .unwrap();

    let model = String::from("gpt-4o-mini");
    let owned = ChatUsage {
        cached: false,
        input_tokens: 12,
        latency_ms: Some(250.5),
        model: model.clone(),
        output_tokens: 30,
    };
    let borrowed = ChatUsageRef {
        cached: false,
        input_tokens: 12,
        latency_ms: Some(250.5),
        model: &model,
        output_tokens: 30,
    };
    let dynamic = json!({"cached": false, "input_tokens": 12, "latency_ms": 250.5,
                         "model": "gpt-4o-mini", "output_tokens": 30});

    // One record per request, so each request body can be compared whole.
    tracker.track_with(owned, options(OWNED)).unwrap();
    tracker.flush(DEADLINE).unwrap();
    tracker.track_with(&borrowed, options(BORROWED)).unwrap();
    tracker.flush(DEADLINE).unwrap();
    tracker
        .track_with(dynamic.clone(), options(DYNAMIC))
        .unwrap();
    tracker.close().unwrap();

    let bodies = proxy.track_usage_bodies();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    let body_of = |id: &str| -> String {
        let found: Vec<&String> = bodies.iter().filter(|b| b.contains(id)).collect();
        assert_eq!(found.len(), 1, "one request carries {id}: {bodies:?}");
        found[0].clone()
    };
    let dynamic_body = body_of(DYNAMIC);
    assert!(
        dynamic_body.contains(
            r#""usage":{"cached":false,"input_tokens":12,"latency_ms":250.5,"model":"gpt-4o-mini","output_tokens":30}"#
        ),
        "{dynamic_body}"
    );
    assert_eq!(body_of(OWNED).replace(OWNED, DYNAMIC), dynamic_body);
    assert_eq!(body_of(BORROWED).replace(BORROWED, DYNAMIC), dynamic_body);

    // And the server stored all three, with the usage it was sent.
    let records = api.records();
    assert_eq!(records.len(), 3);
    for record in &records {
        assert_eq!(Value::Object(record.usage.clone()), dynamic);
        assert_eq!(record.config_id, "chat-completions");
        assert_eq!(record.client_customer_key.as_deref(), Some("acme"));
    }
}

#[test]
fn nested_and_renamed_typed_records_match_their_dynamic_twins() {
    let api = server();
    let proxy = CaptureProxy::start(api.addr());
    let tracker = builder(&api, "agent-run")
        .api_base(proxy.base())
        .build()
        .unwrap();

    let typed = AgentRun {
        cost_center: "ops",
        outcome: json!(3),
        scores: Some(vec![0.25, 1.0]),
        steps: vec![[("search", 2), ("write", 1)].into_iter().collect()],
        tool_calls: [("search".to_owned(), vec!["q1", "q2"])]
            .into_iter()
            .collect(),
        r#type: None,
    };
    let dynamic = json!({"cost-center": "ops", "outcome": 3, "scores": [0.25, 1.0],
        "steps": [{"search": 2, "write": 1}], "tool_calls": {"search": ["q1", "q2"]}});

    tracker.track_with(&typed, options(BORROWED)).unwrap();
    tracker.flush(DEADLINE).unwrap();
    tracker
        .track_with(dynamic.clone(), options(DYNAMIC))
        .unwrap();
    tracker.close().unwrap();

    let bodies = proxy.track_usage_bodies();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let typed_body = bodies.iter().find(|b| b.contains(BORROWED)).unwrap();
    let dynamic_body = bodies.iter().find(|b| b.contains(DYNAMIC)).unwrap();
    assert_eq!(&typed_body.replace(BORROWED, DYNAMIC), dynamic_body);
    assert!(
        dynamic_body.contains(r#""usage":{"cost-center":"ops","outcome":3,"#),
        "{dynamic_body}"
    );
    let records = api.records();
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| Value::Object(r.usage.clone()) == dynamic)
    );
}

/// Compiled against an older `chat-completions` schema.
#[derive(Serialize, Usage)]
#[usage(schema = r#"{"input_tokens": "float", "model": "str", "region": "str",
                     "latency_ms": "Optional[float]"}"#)]
struct OldChatUsage {
    input_tokens: f64,
    model: String,
    region: String,
}

#[test]
// `&old()` is the point: the borrowed path must get the verdict too.
#[allow(clippy::needless_borrows_for_generic_args)]
fn a_type_that_does_not_match_the_live_schema_is_refused_with_every_difference() {
    let api = server();
    let tracker = builder(&api, "chat-completions").build().unwrap();
    let old = || OldChatUsage {
        input_tokens: 1.0,
        model: "m".into(),
        region: "eu".into(),
    };
    let err = tracker.track(old()).unwrap_err();
    let TrackError::SchemaMismatch(mismatch) = &err else {
        panic!("expected SchemaMismatch, got {err:?}");
    };
    assert_eq!(mismatch.type_name, "OldChatUsage");
    assert_eq!(mismatch.config_id, "chat-completions");
    // Live order; the optional `latency_ms` may be left out.
    assert_eq!(mismatch.missing_in_type, ["output_tokens", "cached"]);
    assert_eq!(mismatch.unknown_to_config, ["region"]);
    assert_eq!(
        mismatch.type_changes,
        [(
            "input_tokens".to_owned(),
            "float".to_owned(),
            "int".to_owned()
        )]
    );
    // The verdict is remembered per type, and borrowed values get it too.
    assert!(matches!(
        tracker.track(&old()),
        Err(TrackError::SchemaMismatch(_))
    ));
    // A matching type on the same tracker is unaffected.
    tracker
        .track(ChatUsage {
            cached: true,
            input_tokens: 1,
            latency_ms: None,
            model: "m".into(),
            output_tokens: 2,
        })
        .unwrap();
    tracker.close().unwrap();
    assert_eq!(api.records().len(), 1);

    // An empty live schema accepts any type.
    let free = builder(&api, "free-form").build().unwrap();
    free.track(old()).unwrap();
    free.close().unwrap();
    assert_eq!(api.records().len(), 2);
}

#[test]
fn a_type_for_another_config_and_track_time_checks_are_refused_before_sending() {
    let api = server();
    let tracker = builder(&api, "speech-to-text").build().unwrap();
    let chat = ChatUsage {
        cached: false,
        input_tokens: 1,
        latency_ms: None,
        model: "m".into(),
        output_tokens: 1,
    };
    match tracker.track(chat) {
        Err(TrackError::ConfigMismatch {
            type_name,
            expected,
            actual,
        }) => {
            assert_eq!(type_name, "ChatUsage");
            assert_eq!(expected, "chat-completions");
            assert_eq!(actual, "speech-to-text");
        }
        other => panic!("expected ConfigMismatch, got {other:?}"),
    }
    tracker.close().unwrap();

    let tracker = builder(&api, "chat-completions").build().unwrap();
    let err = tracker
        .track(ChatUsage {
            cached: false,
            input_tokens: 1,
            latency_ms: Some(f64::NAN),
            model: "m".into(),
            output_tokens: 1,
        })
        .unwrap_err();
    let validation = err.validation().expect("a validation error");
    assert_eq!(
        validation.errors["latency_ms"],
        "expected a finite float, got NaN"
    );
    tracker.close().unwrap();
    assert_eq!(api.stats().track_requests, 0);
    assert!(api.records().is_empty());
}

/// The bytes one client connection sent.
type Captured = Arc<Mutex<Vec<u8>>>;

/// A loopback TCP proxy in front of the local API that keeps every byte the client sends, so
/// a test can compare request bodies exactly as they went over the wire.
struct CaptureProxy {
    addr: SocketAddr,
    streams: Arc<Mutex<Vec<Captured>>>,
}

impl CaptureProxy {
    fn start(upstream: SocketAddr) -> CaptureProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let streams: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let accepted = streams.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(upstream) else {
                    return;
                };
                let captured = Arc::new(Mutex::new(Vec::new()));
                accepted.lock().unwrap().push(captured.clone());
                let (client_r, server_w) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(client_r, server_w, Some(captured)));
                std::thread::spawn(move || pump(server, client, None));
            }
        });
        CaptureProxy { addr, streams }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bodies of every `POST …/track-usage` request, in the order each connection sent them.
    fn track_usage_bodies(&self) -> Vec<String> {
        let streams = self.streams.lock().unwrap();
        let mut bodies = Vec::new();
        for stream in streams.iter() {
            let bytes = stream.lock().unwrap().clone();
            for (request_line, body) in http_requests(&bytes) {
                if request_line.starts_with("POST ") && request_line.contains("/track-usage ") {
                    bodies.push(String::from_utf8(body).unwrap());
                }
            }
        }
        bodies
    }
}

/// Copies `from` to `to` until either side closes, keeping a copy when asked.
fn pump(mut from: TcpStream, mut to: TcpStream, capture: Option<Captured>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(capture) = &capture {
            capture.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Splits a client's byte stream into `(request line, body)` pairs (Content-Length bodies).
fn http_requests(mut bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut requests = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let length = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap());
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "chunked bodies are not expected: {head}"
        );
        let body_start = end + 4;
        let body = bytes[body_start..body_start + length].to_vec();
        requests.push((request_line, body));
        bytes = &bytes[body_start + length..];
    }
    requests
}

/// An owned record whose hand-written `Serialize` refuses.
#[derive(Usage)]
#[usage(schema = r#"{"n": "int"}"#)]
struct Refusing {
    n: i64,
}

impl Serialize for Refusing {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.n < 0 {
            return Err(serde::ser::Error::custom("a negative n cannot be written"));
        }
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Refusing", 1)?;
        s.serialize_field("n", &self.n)?;
        s.end()
    }
}

#[test]
fn a_typed_record_that_cannot_be_serialised_is_refused_by_track_and_nothing_is_queued() {
    let api = server();
    let tracker = builder(&api, "free-form").build().unwrap();
    let good = tracker.track(Refusing { n: 7 }).unwrap();
    match tracker.track(Refusing { n: -1 }) {
        Err(TrackError::Serialize(message)) => {
            assert!(
                message.contains("a negative n cannot be written"),
                "{message}"
            )
        }
        other => panic!("expected a Serialize error, got {other:?}"),
    }
    tracker.flush(DEADLINE).unwrap();
    let h = tracker.health();
    assert_eq!(
        (h.total_accepted, h.total_sent, h.total_failed),
        (1, 1, 0),
        "{h:?}"
    );
    let stored: Vec<String> = api
        .records()
        .iter()
        .map(|r| r.response_id.clone())
        .collect();
    assert_eq!(stored, vec![good.to_string()]);
    tracker.close().unwrap();
}
