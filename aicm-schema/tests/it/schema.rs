//! Whole schemas: field order, every bad field reported, canonical JSON and the fingerprint.

use aicm_schema::{FieldError, ParseErrorKind, RawSchema, Schema, SchemaError, TypeExpr};

fn names(schema: &Schema) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name.as_str()).collect()
}

#[test]
fn json_text_keeps_field_order_and_parses_types() {
    let schema = Schema::from_json_str(
        r#"{"zeta": "int", "alpha": "Optional[str]", "mid": "dict[str, list[int]]", "b": "float | None"}"#,
    )
    .unwrap();
    assert_eq!(names(&schema), ["zeta", "alpha", "mid", "b"]);
    assert_eq!(schema.len(), 4);
    assert!(!schema.is_empty());
    assert_eq!(schema.position("mid"), Some(2));
    assert_eq!(schema.position("nope"), None);
    assert_eq!(schema.get("zeta").unwrap().ty, TypeExpr::Int);
    assert!(schema.get("alpha").unwrap().is_optional());
    assert!(!schema.get("zeta").unwrap().is_optional());
    assert!(schema.get("b").unwrap().is_optional());
    assert_eq!(
        schema.canonical_json(),
        r#"{"zeta":"int","alpha":"Optional[str]","mid":"Dict[str, List[int]]","b":"Optional[float]"}"#
    );
    assert_eq!(schema.to_string(), schema.canonical_json());
}

#[test]
fn pairs_keep_order() {
    let schema = Schema::from_pairs([("z", "int"), ("a", "str"), ("m", "List[int]")]).unwrap();
    assert_eq!(names(&schema), ["z", "a", "m"]);
    let owned = Schema::from_pairs(vec![("z".to_owned(), "int".to_owned())]).unwrap();
    assert_eq!(names(&owned), ["z"]);
}

#[test]
fn every_bad_field_is_reported_with_its_name_in_order() {
    let err = Schema::from_json_str(
        r#"{"ok": "int", "a": "integer", "b": "List[int", "fine": "str", "c": "None", "d": 5,
            "e": "Union[]", "ok": "str", "f": {"nested": "int"}}"#,
    )
    .unwrap_err();
    let SchemaError::Fields(errors) = &err else {
        panic!("expected field errors, got {err:?}");
    };
    let fields: Vec<&str> = errors.iter().map(FieldError::field).collect();
    assert_eq!(fields, ["a", "b", "c", "d", "e", "ok", "f"]);

    match &errors[0] {
        FieldError::Parse { field, error } => {
            assert_eq!(field, "a");
            assert_eq!(error.input, "integer");
            assert_eq!(error.position, 0);
            assert_eq!(
                error.kind,
                ParseErrorKind::UnknownName("integer".to_owned())
            );
        }
        other => panic!("{other:?}"),
    }
    match &errors[1] {
        FieldError::Parse { error, .. } => assert_eq!(error.position, 8),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        errors[3],
        FieldError::NotAString {
            field: "d".to_owned(),
            found: "number"
        }
    );
    assert_eq!(
        errors[5],
        FieldError::Duplicate {
            field: "ok".to_owned()
        }
    );
    assert_eq!(
        errors[6],
        FieldError::NotAString {
            field: "f".to_owned(),
            found: "object"
        }
    );

    let text = err.to_string();
    assert!(
        text.starts_with("invalid schema: field `a`: unknown type name `integer`"),
        "{text}"
    );
    assert!(
        text.contains(
            "; field `b`: expected `,` or `]`, found end of input at position 8 in `List[int`"
        ),
        "{text}"
    );
    assert!(
        text.contains("; field `c`: `None` is only allowed as a member of a union (`T | None`) at position 0 in `None`"),
        "{text}"
    );
    assert!(
        text.contains("; field `d`: type must be a string, found number"),
        "{text}"
    );
    assert!(
        text.contains("; field `ok` is listed more than once"),
        "{text}"
    );
}

#[test]
fn pairs_report_every_bad_field_too() {
    let err = Schema::from_pairs([("x", "int"), ("y", "Lst[int]"), ("z", "int |")]).unwrap_err();
    let SchemaError::Fields(errors) = err else {
        panic!()
    };
    assert_eq!(
        errors.iter().map(FieldError::field).collect::<Vec<_>>(),
        ["y", "z"]
    );
}

#[test]
fn null_and_empty_object_are_the_empty_schema() {
    for text in ["null", "{}", " { } "] {
        let schema = Schema::from_json_str(text).unwrap();
        assert!(schema.is_empty(), "{text}");
        assert_eq!(schema, Schema::empty());
    }
    assert_eq!(
        Schema::from_value(&serde_json::Value::Null).unwrap(),
        Schema::empty()
    );
    assert_eq!(
        Schema::from_value(&serde_json::json!({})).unwrap(),
        Schema::empty()
    );
    assert_eq!(Schema::empty().canonical_json(), "{}");
}

#[test]
fn a_schema_that_is_not_an_object_is_an_error() {
    for text in ["[1]", "\"int\"", "3", "true", "{", ""] {
        match Schema::from_json_str(text) {
            Err(SchemaError::NotAnObject(_)) => {}
            other => panic!("{text}: {other:?}"),
        }
    }
    match Schema::from_value(&serde_json::json!(["int"])) {
        Err(SchemaError::NotAnObject(msg)) => assert_eq!(
            msg,
            "expected a JSON object of field names to type strings, found array"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn from_value_parses_and_reports_like_text() {
    let schema = Schema::from_value(&serde_json::json!({"a": "int", "b": "str | None"})).unwrap();
    assert_eq!(schema.get("b").unwrap().ty.to_string(), "Optional[str]");
    let err = Schema::from_value(&serde_json::json!({"a": "nope", "b": 1})).unwrap_err();
    let SchemaError::Fields(errors) = err else {
        panic!()
    };
    assert_eq!(errors.len(), 2);
}

#[test]
fn raw_schema_deserialises_inside_a_document_keeping_order() {
    #[derive(serde::Deserialize)]
    struct Config {
        manual_usage_schema: RawSchema,
        #[serde(default)]
        other: RawSchema,
    }
    let config: Config = serde_json::from_str(
        r#"{"manual_usage_schema": {"tokens": "int", "model": "str", "note": "Optional[str]"},
            "other": null}"#,
    )
    .unwrap();
    let raw = config.manual_usage_schema;
    assert_eq!(raw.names().collect::<Vec<_>>(), ["tokens", "model", "note"]);
    let schema = raw.parse().unwrap();
    assert_eq!(names(&schema), ["tokens", "model", "note"]);
    assert!(config.other.parse().unwrap().is_empty());

    let absent: Config = serde_json::from_str(r#"{"manual_usage_schema": null}"#).unwrap();
    assert!(absent.manual_usage_schema.parse().unwrap().is_empty());
    assert!(absent.other.parse().unwrap().is_empty());
}

#[test]
fn the_sample_configs_parse() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/schemas/configs.json"
    ));
    // shared/ sits beside the repository; skip quietly where it is not checked out.
    let Ok(text) = text else { return };
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let configs = doc["configs"].as_array().unwrap();
    assert!(!configs.is_empty());
    for config in configs {
        let schema = Schema::from_value(&config["manual_usage_schema"]);
        assert!(schema.is_ok(), "{}: {schema:?}", config["config_id"]);
    }
}

/// The fingerprint is compiled into user binaries by the derive: changing it silently would
/// make every compiled type look different from its live schema. If this fails on purpose,
/// say so in the changelog.
#[test]
fn fingerprint_is_pinned() {
    let schema =
        Schema::from_json_str(r#"{"tokens": "int", "model": "str", "note": "Optional[str]"}"#)
            .unwrap();
    assert_eq!(
        schema.canonical_json(),
        r#"{"tokens":"int","model":"str","note":"Optional[str]"}"#
    );
    // FNV-1a 64 of the canonical JSON, computed independently.
    assert_eq!(schema.fingerprint(), 0x65e5_077b_afb4_6333);
    assert_eq!(Schema::empty().fingerprint(), 0x08f4_4b07_b590_1a25);
}

#[test]
fn fingerprint_ignores_spelling_but_not_meaning_or_order() {
    let base = Schema::from_json_str(
        r#"{"n": "Optional[int]", "m": "Dict[str, List[int]]", "u": "Union[int, str]"}"#,
    )
    .unwrap();
    let respelled = Schema::from_json_str(
        "{\"n\": \"int | None\", \"m\": \"dict[ str,\\n list[int] ]\", \"u\": \"int|str|int\"}",
    )
    .unwrap();
    assert_eq!(base, respelled);
    assert_eq!(base.fingerprint(), respelled.fingerprint());
    assert_eq!(base.canonical_json(), respelled.canonical_json());

    let different_type = Schema::from_pairs([
        ("n", "int"),
        ("m", "Dict[str, List[int]]"),
        ("u", "Union[int, str]"),
    ])
    .unwrap();
    assert_ne!(base.fingerprint(), different_type.fingerprint());

    let reordered = Schema::from_pairs([
        ("m", "Dict[str, List[int]]"),
        ("n", "Optional[int]"),
        ("u", "Union[int, str]"),
    ])
    .unwrap();
    assert_ne!(base.fingerprint(), reordered.fingerprint());

    let union_order = Schema::from_pairs([
        ("n", "Optional[int]"),
        ("m", "Dict[str, List[int]]"),
        ("u", "Union[str, int]"),
    ])
    .unwrap();
    assert_ne!(
        base.fingerprint(),
        union_order.fingerprint(),
        "union member order is kept, as Python keeps it"
    );
}

#[test]
fn canonical_json_escapes_names() {
    let schema = Schema::from_pairs([
        ("cost-center", "str"),
        ("quote\"d", "int"),
        ("type", "bool"),
    ])
    .unwrap();
    let text = schema.canonical_json();
    assert_eq!(
        text,
        r#"{"cost-center":"str","quote\"d":"int","type":"bool"}"#
    );
    // It reads back as the same schema.
    assert_eq!(Schema::from_json_str(&text).unwrap(), schema);
}
