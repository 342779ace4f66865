//! Value tables for every semantic rule of the type language (DESIGN.md "The type language").
//! Tests whose name ends in `_python_differs` pin a deliberate difference from the Python SDK.

use aicm::{Mismatch, TypeValidator, ValidationIssue};
use serde_json::{Value, json};

/// Reads JSON text, so that numbers are exactly what a parser gives (`1.0` stays a float).
fn v(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad JSON {text}: {e}"))
}

/// Checks a table of (JSON text, expected outcome) against one type string:
/// `None` means valid, `Some(message)` the exact `Display` of the error.
#[track_caller]
fn table(ty: &str, rows: &[(&str, Option<&str>)]) {
    let validator = TypeValidator::new();
    let mut failures = Vec::new();
    for (text, want) in rows {
        let got = validator
            .validate_value(&v(text), ty)
            .map_err(|e| e.to_string());
        let got = got.err();
        if got.as_deref() != *want {
            failures.push(format!("{ty} <- {text}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn int_is_an_integer_literal_that_fits_i64_or_u64() {
    table(
        "int",
        &[
            ("0", None),
            ("1", None),
            ("-1", None),
            // serde_json reads `-0` as the float -0.0 (to keep the sign), and the validator sees
            // only the parsed number, so this one integer literal is not an int.
            ("-0", Some("expected int, got number -0.0")),
            ("9223372036854775807", None),  // i64::MAX
            ("-9223372036854775808", None), // i64::MIN
            ("18446744073709551615", None), // u64::MAX
            ("1.0", Some("expected int, got number 1.0")),
            ("-2.0", Some("expected int, got number -2.0")),
            ("1e3", Some("expected int, got number 1000.0")),
            ("1E3", Some("expected int, got number 1000.0")),
            ("1.5", Some("expected int, got number 1.5")),
            ("\"1\"", Some("expected int, got str")),
            ("null", Some("expected int, got null")),
            ("[1]", Some("expected int, got list")),
            ("{}", Some("expected int, got dict")),
        ],
    );
}

#[test]
fn int_beyond_u64_or_below_i64_is_not_an_int() {
    let validator = TypeValidator::new();
    for text in ["18446744073709551616", "-9223372036854775809", "1e100"] {
        let err = validator.validate_value(&v(text), "int").unwrap_err();
        assert!(
            err.to_string().starts_with("expected int, got number "),
            "{text}: {err}"
        );
    }
}

#[test]
fn int_rejects_true_python_differs() {
    table(
        "int",
        &[
            ("true", Some("expected int, got bool")),
            ("false", Some("expected int, got bool")),
        ],
    );
}

#[test]
fn float_accepts_an_integer_literal_python_differs() {
    table(
        "float",
        &[
            ("1", None),
            ("0", None),
            ("-7", None),
            ("18446744073709551615", None),
            ("18446744073709551616", None),
        ],
    );
}

#[test]
fn float_is_any_number() {
    table(
        "float",
        &[
            ("1.5", None),
            ("-2e-3", None),
            ("1e308", None),
            ("0.0", None),
            ("true", Some("expected float, got bool")),
            ("\"1.5\"", Some("expected float, got str")),
            ("null", Some("expected float, got null")),
        ],
    );
}

#[test]
fn str_and_bool_are_the_json_types() {
    table(
        "str",
        &[
            ("\"\"", None),
            ("\"héllo\"", None),
            ("1", Some("expected str, got number")),
            ("true", Some("expected str, got bool")),
            ("null", Some("expected str, got null")),
            ("[\"a\"]", Some("expected str, got list")),
        ],
    );
    table(
        "bool",
        &[
            ("true", None),
            ("false", None),
            ("0", Some("expected bool, got number")),
            ("1", Some("expected bool, got number")),
            ("\"true\"", Some("expected bool, got str")),
            ("null", Some("expected bool, got null")),
        ],
    );
}

#[test]
fn list_and_tuple_are_any_array_dict_any_object() {
    for ty in ["list", "tuple"] {
        table(
            ty,
            &[
                ("[]", None),
                ("[1, \"a\", null, [2]]", None),
                ("{}", Some(&format!("expected {ty}, got dict"))),
                ("\"abc\"", Some(&format!("expected {ty}, got str"))),
                ("null", Some(&format!("expected {ty}, got null"))),
            ],
        );
    }
    table(
        "dict",
        &[
            ("{}", None),
            ("{\"a\": 1, \"b\": [null]}", None),
            ("[]", Some("expected dict, got list")),
            ("null", Some("expected dict, got null")),
        ],
    );
}

#[test]
fn set_is_an_array_without_duplicates() {
    table(
        "set",
        &[
            ("[]", None),
            ("[1]", None),
            ("[1, 2, 3]", None),
            ("[\"a\", \"b\"]", None),
            ("[[1], [2], {\"a\": 1}, {\"a\": 2}]", None),
            ("[null, false, 0, \"\", [], {}]", None),
            (
                "[1, 1]",
                Some("expected set, got list with a duplicate element at [1]"),
            ),
            (
                "[\"a\", \"b\", \"a\"]",
                Some("expected set, got list with a duplicate element at [2]"),
            ),
            // The first element that repeats an earlier one.
            (
                "[5, 6, 6, 5]",
                Some("expected set, got list with a duplicate element at [2]"),
            ),
            (
                "[null, null]",
                Some("expected set, got list with a duplicate element at [1]"),
            ),
            (
                "[[1, 2], [1, 2]]",
                Some("expected set, got list with a duplicate element at [1]"),
            ),
            // Objects compare regardless of key order.
            (
                "[{\"a\": 1, \"b\": 2}, {\"b\": 2, \"a\": 1}]",
                Some("expected set, got list with a duplicate element at [1]"),
            ),
            // Numbers compare by value, as Python's `{1, 1.0}` has one element.
            (
                "[1, 1.0]",
                Some("expected set, got list with a duplicate element at [1]"),
            ),
            (
                "[[1], [1e0]]",
                Some("expected set, got list with a duplicate element at [1]"),
            ),
            (
                "[0, -0.0]",
                Some("expected set, got list with a duplicate element at [1]"),
            ),
            ("{}", Some("expected set, got dict")),
            ("null", Some("expected set, got null")),
        ],
    );
}

/// Python's `{1, True}` has one element; JSON keeps booleans apart from numbers, and so do we.
#[test]
fn set_keeps_true_apart_from_1_python_differs() {
    table("set", &[("[1, true]", None), ("[0, false]", None)]);
}

#[test]
fn large_sets_find_the_same_first_duplicate() {
    let validator = TypeValidator::new();
    let distinct: Vec<Value> = (0..200).map(|i| json!(i)).collect();
    assert!(
        validator
            .validate_value(&Value::Array(distinct.clone()), "set")
            .is_ok()
    );

    let mut items = distinct.clone();
    items[150] = json!(7.0); // equal to items[7]
    items[170] = json!(3); // equal to items[3], but later
    let err = validator
        .validate_value(&Value::Array(items), "set")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected set, got list with a duplicate element at [150]"
    );

    let mut objects: Vec<Value> = (0..100).map(|i| json!({"k": i, "s": "x"})).collect();
    objects.push(json!({"s": "x", "k": 42}));
    let err = validator
        .validate_value(&Value::Array(objects), "set")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected set, got list with a duplicate element at [100]"
    );

    // Large integers that one f64 cannot tell apart are still distinct.
    let big: Vec<Value> = (0..40)
        .map(|i| json!(9_007_199_254_740_992u64 + i))
        .collect();
    assert!(validator.validate_value(&Value::Array(big), "set").is_ok());
}

#[test]
fn any_accepts_everything_null_included() {
    table(
        "Any",
        &[
            ("null", None),
            ("1", None),
            ("1.5", None),
            ("\"s\"", None),
            ("true", None),
            ("[1, [2]]", None),
            ("{\"a\": {}}", None),
        ],
    );
}

#[test]
fn list_of_t_checks_every_element_and_names_the_index() {
    table(
        "List[int]",
        &[
            ("[]", None),
            ("[1, 2, 3]", None),
            ("[1, \"a\"]", Some("[1]: expected int, got str")),
            ("[1, 2.5, \"a\"]", Some("[1]: expected int, got number 2.5")),
            ("\"x\"", Some("expected List[int], got str")),
            ("{}", Some("expected List[int], got dict")),
            ("null", Some("expected List[int], got null")),
        ],
    );
    table(
        "List[str]",
        &[("[\"a\", \"b\", 3]", Some("[2]: expected str, got number"))],
    );
}

#[test]
fn list_checks_every_depth_python_checks_one_level() {
    table(
        "List[List[List[int]]]",
        &[
            ("[]", None),
            ("[[], [[]], [[1, 2], [3]]]", None),
            (
                "[[[1]], [[2, \"x\"]]]",
                Some("[1][0][1]: expected int, got str"),
            ),
            (
                "[[[1]], [7]]",
                Some("[1][0]: expected List[int], got number"),
            ),
            (
                "[[[1]], 7]",
                Some("[1]: expected List[List[int]], got number"),
            ),
        ],
    );
}

#[test]
fn dict_checks_values_and_names_the_key() {
    table(
        "Dict[str, int]",
        &[
            ("{}", None),
            ("{\"a\": 1, \"b\": 2}", None),
            ("{\"a\": 1, \"b\": \"x\"}", Some("b: expected int, got str")),
            ("[]", Some("expected Dict[str, int], got list")),
            // A key that would make a dotted path ambiguous is quoted.
            ("{\"a.b\": \"x\"}", Some("[\"a.b\"]: expected int, got str")),
            ("{\"\": \"x\"}", Some("[\"\"]: expected int, got str")),
            ("{\"a b\": \"x\"}", Some("[\"a b\"]: expected int, got str")),
        ],
    );
    table(
        "Dict[str, Dict[str, List[int]]]",
        &[(
            "{\"meta\": {\"x\": [1, \"no\"]}}",
            Some("meta.x[1]: expected int, got str"),
        )],
    );
    table(
        "List[Dict[str, int]]",
        &[(
            "[{\"a\": 1}, {\"b\": null}]",
            Some("[1].b: expected int, got null"),
        )],
    );
}

#[test]
fn dict_keys_must_read_as_the_key_type() {
    table(
        "Dict[int, str]",
        &[
            ("{\"1\": \"a\", \"-5\": \"b\", \"0\": \"c\"}", None),
            ("{\"18446744073709551615\": \"a\"}", None),
            ("{\"-9223372036854775808\": \"a\"}", None),
            ("{\"a\": \"x\"}", Some("expected int key, got \"a\"")),
            ("{\"1.0\": \"x\"}", Some("expected int key, got \"1.0\"")),
            ("{\"1e3\": \"x\"}", Some("expected int key, got \"1e3\"")),
            ("{\"01\": \"x\"}", Some("expected int key, got \"01\"")),
            ("{\"+1\": \"x\"}", Some("expected int key, got \"+1\"")),
            ("{\" 1\": \"x\"}", Some("expected int key, got \" 1\"")),
            ("{\"\": \"x\"}", Some("expected int key, got \"\"")),
            (
                "{\"18446744073709551616\": \"x\"}",
                Some("expected int key, got \"18446744073709551616\""),
            ),
            ("{\"1\": 5}", Some("1: expected str, got number")),
        ],
    );
    table(
        "Dict[float, int]",
        &[
            ("{\"1\": 1, \"1.5\": 2, \"-1e3\": 3, \"0.25E-2\": 4}", None),
            ("{\"nan\": 1}", Some("expected float key, got \"nan\"")),
            ("{\"inf\": 1}", Some("expected float key, got \"inf\"")),
            ("{\".5\": 1}", Some("expected float key, got \".5\"")),
            ("{\"1.\": 1}", Some("expected float key, got \"1.\"")),
            ("{\"1e\": 1}", Some("expected float key, got \"1e\"")),
        ],
    );
    table(
        "Dict[bool, int]",
        &[
            ("{\"true\": 1, \"false\": 0}", None),
            ("{\"True\": 1}", Some("expected bool key, got \"True\"")),
        ],
    );
    table(
        "Dict[Union[int, bool], int]",
        &[
            ("{\"1\": 1, \"true\": 0}", None),
            (
                "{\"x\": 1}",
                Some("expected Union[int, bool] key, got \"x\""),
            ),
        ],
    );
    table("Dict[Any, int]", &[("{\"anything\": 1}", None)]);
}

#[test]
fn optional_accepts_null() {
    table(
        "Optional[int]",
        &[
            ("null", None),
            ("3", None),
            ("\"x\"", Some("expected Optional[int], got str")),
            ("1.5", Some("expected Optional[int], got number 1.5")),
        ],
    );
    table(
        "int | None",
        &[
            ("null", None),
            ("\"x\"", Some("expected Optional[int], got str")),
        ],
    );
    table(
        "Optional[List[int]]",
        &[
            ("null", None),
            ("[1]", None),
            ("[1, \"x\"]", Some("[1]: expected int, got str")),
            ("[1, null]", Some("[1]: expected int, got null")),
            ("7", Some("expected Optional[List[int]], got number")),
        ],
    );
    table(
        "Optional[set]",
        &[(
            "[1, 1]",
            Some("expected set, got list with a duplicate element at [1]"),
        )],
    );
    table(
        "List[Optional[int]]",
        &[
            ("[1, null, 2]", None),
            (
                "[null, \"a\"]",
                Some("[1]: expected Optional[int], got str"),
            ),
        ],
    );
}

#[test]
fn union_matches_if_any_member_matches() {
    table(
        "Union[int, str]",
        &[
            ("1", None),
            ("\"a\"", None),
            ("1.5", Some("expected Union[int, str], got number")),
            ("null", Some("expected Union[int, str], got null")),
            ("true", Some("expected Union[int, str], got bool")),
        ],
    );
    table(
        "int | str | None",
        &[("null", None), ("2", None), ("\"b\"", None)],
    );
    table(
        "Union[List[int], Dict[str, int]]",
        &[
            ("[1]", None),
            ("{\"a\": 1}", None),
            (
                "[\"x\"]",
                Some("expected Union[List[int], Dict[str, int]], got list"),
            ),
        ],
    );
    table("Union[int, float]", &[("1", None), ("1.5", None)]);
}

#[test]
fn a_malformed_type_string_is_its_own_error_never_a_panic() {
    let validator = TypeValidator::new();
    let err = validator.validate_value(&json!(1), "List[int").unwrap_err();
    match &err {
        ValidationIssue::InvalidType(parse) => assert_eq!(parse.position, 8),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "invalid type string: expected `,` or `]`, found end of input at position 8 in `List[int`"
    );
    for bad in [
        "", "None", "integer", "Union[]", "int |", "|int", "int[str]", "List",
    ] {
        assert!(
            matches!(
                validator.validate_value(&json!(null), bad),
                Err(ValidationIssue::InvalidType(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn validate_type_reports_path_and_message_separately() {
    let ty = "Dict[str, List[str]]".parse().unwrap();
    let err = TypeValidator::new()
        .validate_type(&json!({"tags": ["a", "b", 3]}), &ty)
        .unwrap_err();
    assert_eq!(
        err,
        Mismatch {
            path: "tags[2]".to_owned(),
            message: "expected str, got number".to_owned()
        }
    );
    assert_eq!(err.to_string(), "tags[2]: expected str, got number");

    let err = TypeValidator::new()
        .validate_type(&json!("x"), &"int".parse().unwrap())
        .unwrap_err();
    assert_eq!(err.path, "");
    assert_eq!(err.to_string(), "expected int, got str");
}

#[test]
fn validate_value_mismatch_is_the_mismatch_variant() {
    let err = TypeValidator::new()
        .validate_value(&json!(["a", 1]), "List[str]")
        .unwrap_err();
    assert_eq!(
        err,
        ValidationIssue::Mismatch(Mismatch {
            path: "[1]".to_owned(),
            message: "expected str, got number".to_owned()
        })
    );
}
