//! Signing helpers for tests: the fixed RSA keys of `tests/keys` and tokens made with them.

use serde_json::{Value, json};

pub(crate) fn test_private() -> String {
    include_str!("../../../tests/keys/test_private.pem").to_owned()
}
pub(crate) fn test_public() -> String {
    include_str!("../../../tests/keys/test_public.pem").to_owned()
}
pub(crate) fn other_private() -> String {
    include_str!("../../../tests/keys/other_private.pem").to_owned()
}

/// A signed item (`public_key`, `key_id`, `encrypted_payload`) whose token carries `claims`,
/// signed with `private_pem` and headed with `kid`.
pub(crate) fn signed_item(claims: &Value, private_pem: &str, public_pem: &str, kid: &str) -> Value {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, claims, &key).unwrap();
    json!({"version": "v1", "public_key": public_pem, "key_id": kid, "encrypted_payload": token})
}

/// A `service_configs` item for `configs`, each `(config_id, schema)`, signed with the test key.
/// The schema is given as JSON text so its field order reaches the token as written.
pub(crate) fn config_item(configs: &[(&str, &str)]) -> Value {
    let entries: Vec<String> = configs
        .iter()
        .map(|(id, schema)| {
            format!(
                r#"{{"uuid":"u-{id}","config_id":"{id}","api_id":"manual","last_updated":"2025-08-07T00:00:00Z","handling_config":{{}},"manual_usage_schema":{schema}}}"#
            )
        })
        .collect();
    let now = super::verify::unix_now();
    let claims_text = format!(
        r#"{{"iss":"aicm-api","sub":"api-key-id","iat":{now},"jti":"config","version":"v1","key_id":"k1","configs":[{}]}}"#,
        entries.join(",")
    );
    signed_text_item(&claims_text, "k1")
}

/// Like [`signed_item`] but from claims text, signed with the test key, keeping key order.
pub(crate) fn signed_text_item(claims_text: &str, kid: &str) -> Value {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims_text.as_bytes())
    );
    // jsonwebtoken signs serialisable claims; to keep the text's key order we sign the raw
    // segments with its `crypto::sign`.
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(test_private().as_bytes()).unwrap();
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &key,
        jsonwebtoken::Algorithm::RS256,
    )
    .unwrap();
    json!({"version": "v1", "public_key": test_public(), "key_id": kid,
           "encrypted_payload": format!("{signing_input}.{signature}")})
}

/// A signed triggered-limits item holding `limits`.
pub(crate) fn limits_item(limits: Value) -> Value {
    let claims = json!({"iss": "aicm-api", "sub": "api-key-id", "iat": super::verify::unix_now(),
                        "jti": "tl", "version": "v1", "key_id": "k1", "triggered_limits": limits});
    signed_item(&claims, &test_private(), &test_public(), "k1")
}

/// One triggered limit entry.
pub(crate) fn limit_entry(
    event_id: &str,
    customer: Option<&str>,
    expires_at: Option<&str>,
) -> Value {
    json!({"event_id": event_id, "limit_id": "l1", "threshold_type": "limit", "amount": 10,
           "period": "day", "vendor": {"name": "openai", "config_ids": ["cfg"], "hostname": null},
           "service_id": "svc", "client_customer_key": customer, "api_key_id": "ak",
           "triggered_at": "2025-08-07T00:00:00Z", "expires_at": expires_at})
}

/// Base64url without padding, as JWT segments are written.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A minimal AICostManager API on loopback for store tests: `/configs` with ETag handling and
/// `/triggered-limits`, recording every request. One request per connection.
pub(crate) mod stub {
    use std::sync::Arc;

    use parking_lot::Mutex;
    use serde_json::{Value, json};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[derive(Debug, Clone)]
    pub(crate) struct Request {
        pub(crate) path: String,
        pub(crate) if_none_match: Option<String>,
        pub(crate) authorization: Option<String>,
        pub(crate) user_agent: Option<String>,
    }

    pub(crate) struct State {
        pub(crate) items: Vec<Value>,
        pub(crate) etag: String,
        /// Sent inside the `/configs` body when `Some`; `/triggered-limits` always serves it.
        pub(crate) limits: Option<Value>,
        pub(crate) limits_in_configs: bool,
        /// Answer 304 to any `If-None-Match` (a server that thinks every cache is current).
        pub(crate) always_not_modified: bool,
        /// Answer `/configs` with this status and an error body.
        pub(crate) fail_with: Option<u16>,
        pub(crate) requests: Vec<Request>,
    }

    #[derive(Clone)]
    pub(crate) struct Stub {
        pub(crate) base: String,
        pub(crate) state: Arc<Mutex<State>>,
    }

    impl Stub {
        pub(crate) async fn start(items: Vec<Value>, etag: &str) -> Stub {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let state = Arc::new(Mutex::new(State {
                items,
                etag: etag.to_owned(),
                limits: None,
                limits_in_configs: true,
                always_not_modified: false,
                fail_with: None,
                requests: Vec::new(),
            }));
            let shared = state.clone();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let state = shared.clone();
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let (status, headers, body) =
                            respond(&state, &String::from_utf8_lossy(&buf));
                        let mut out = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                            body.len()
                        );
                        for (k, v) in headers {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        out.push_str(&body);
                        let _ = socket.write_all(out.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    });
                }
            });
            Stub { base, state }
        }

        pub(crate) fn requests(&self) -> Vec<Request> {
            self.state.lock().requests.clone()
        }

        pub(crate) fn configs_requests(&self) -> Vec<Request> {
            self.requests()
                .into_iter()
                .filter(|r| r.path.ends_with("/configs"))
                .collect()
        }
    }

    fn respond(state: &Mutex<State>, request: &str) -> (u16, Vec<(String, String)>, String) {
        let mut lines = request.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or_default()
            .to_owned();
        let header = |name: &str| {
            request.split("\r\n").skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let req = Request {
            path: path.clone(),
            if_none_match: header("if-none-match"),
            authorization: header("authorization"),
            user_agent: header("user-agent"),
        };
        let mut st = state.lock();
        st.requests.push(req.clone());
        let limits = st.limits.clone().unwrap_or_else(|| json!({}));
        match path.as_str() {
            "/api/v1/configs" => {
                if let Some(status) = st.fail_with {
                    return (
                        status,
                        vec![],
                        json!({"error": "nope", "message": format!("stub says {status}")})
                            .to_string(),
                    );
                }
                if let Some(inm) = &req.if_none_match
                    && (st.always_not_modified || *inm == st.etag)
                {
                    return (304, vec![], String::new());
                }
                let mut body = json!({"service_configs": st.items});
                if st.limits_in_configs {
                    body["triggered_limits"] = limits;
                }
                let headers = if st.etag.is_empty() {
                    vec![]
                } else {
                    vec![("ETag".to_owned(), st.etag.clone())]
                };
                (200, headers, body.to_string())
            }
            "/api/v1/triggered-limits" => {
                (200, vec![], json!({"triggered_limits": limits}).to_string())
            }
            _ => (
                404,
                vec![],
                json!({"error": "not found", "message": "no such path"}).to_string(),
            ),
        }
    }
}
