//! Properties of the validator: it never panics, and it accepts every value built to a type.

use aicm::TypeValidator;
use aicm::schema::{Schema, SchemaField, TypeExpr};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-3i64..3).prop_map(Value::from),
        Just(Value::from(1.0)),
        "[a-z0-9.]{0,4}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z0-9.]{0,3}", inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn any_type() -> impl Strategy<Value = TypeExpr> {
    let leaf = prop_oneof![
        Just(TypeExpr::Any),
        Just(TypeExpr::Int),
        Just(TypeExpr::Float),
        Just(TypeExpr::Str),
        Just(TypeExpr::Bool),
        Just(TypeExpr::AnyList),
        Just(TypeExpr::Tuple),
        Just(TypeExpr::Set),
        Just(TypeExpr::AnyDict),
    ];
    leaf.prop_recursive(5, 32, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| TypeExpr::List(Box::new(t))),
            (inner.clone(), inner.clone())
                .prop_map(|(k, v)| TypeExpr::Dict(Box::new(k), Box::new(v))),
            inner.clone().prop_map(|t| TypeExpr::Optional(Box::new(t))),
            prop::collection::vec(inner, 1..4).prop_map(TypeExpr::Union),
        ]
    })
    .prop_map(TypeExpr::normalized)
}

/// Object keys that read as a value of `ty`, or `None` when no key does.
fn key_of(ty: &TypeExpr) -> Option<BoxedStrategy<String>> {
    Some(match ty {
        TypeExpr::Any | TypeExpr::Str => "[a-z.]{0,4}".boxed(),
        TypeExpr::Int => prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|u| u.to_string()),
        ]
        .boxed(),
        TypeExpr::Float => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Value::from(f).to_string())
            .boxed(),
        TypeExpr::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        TypeExpr::Optional(inner) => match key_of(inner) {
            Some(keys) => prop_oneof![Just("null".to_owned()), keys].boxed(),
            None => Just("null".to_owned()).boxed(),
        },
        TypeExpr::Union(members) => {
            let keys: Vec<BoxedStrategy<String>> = members.iter().filter_map(key_of).collect();
            if keys.is_empty() {
                return None;
            }
            prop::strategy::Union::new(keys).boxed()
        }
        _ => return None,
    })
}

/// Values that have type `ty`.
fn value_of(ty: &TypeExpr) -> BoxedStrategy<Value> {
    match ty {
        TypeExpr::Any => any_json().boxed(),
        TypeExpr::Int => prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from)
        ]
        .boxed(),
        TypeExpr::Float => prop_oneof![
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
            any::<i64>().prop_map(Value::from),
        ]
        .boxed(),
        TypeExpr::Str => any::<String>().prop_map(Value::String).boxed(),
        TypeExpr::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        TypeExpr::AnyList | TypeExpr::Tuple => prop::collection::vec(any_json(), 0..4)
            .prop_map(Value::Array)
            .boxed(),
        TypeExpr::Set => prop::collection::btree_set(any::<i32>(), 0..40)
            .prop_map(|s| Value::Array(s.into_iter().map(Value::from).collect()))
            .boxed(),
        TypeExpr::AnyDict => prop::collection::vec(("[a-z]{0,3}", any_json()), 0..4)
            .prop_map(|e| Value::Object(e.into_iter().collect()))
            .boxed(),
        TypeExpr::List(elem) => prop::collection::vec(value_of(elem), 0..4)
            .prop_map(Value::Array)
            .boxed(),
        TypeExpr::Dict(k, v) => match key_of(k) {
            Some(keys) => prop::collection::vec((keys, value_of(v)), 0..4)
                .prop_map(|e| Value::Object(e.into_iter().collect::<Map<_, _>>()))
                .boxed(),
            None => Just(Value::Object(Map::new())).boxed(),
        },
        TypeExpr::Optional(inner) => prop_oneof![Just(Value::Null), value_of(inner)].boxed(),
        TypeExpr::Union(members) => {
            prop::strategy::Union::new(members.iter().map(value_of).collect::<Vec<_>>()).boxed()
        }
    }
}

fn typed_value() -> impl Strategy<Value = (TypeExpr, Value)> {
    any_type().prop_flat_map(|t| {
        let values = value_of(&t);
        (Just(t), values)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validate_never_panics_on_arbitrary_json(value in any_json(), ty in any_type()) {
        let validator = TypeValidator::new();
        if let Err(e) = validator.validate_type(&value, &ty) {
            prop_assert!(!e.message.is_empty());
        }
        // The same through the string API, which re-parses the printed type.
        let by_string = validator.validate_value(&value, &ty.to_string());
        prop_assert_eq!(by_string.is_ok(), validator.validate_type(&value, &ty).is_ok());
    }

    #[test]
    fn a_value_built_to_a_type_validates((ty, value) in typed_value()) {
        let result = TypeValidator::new().validate_type(&value, &ty);
        prop_assert!(result.is_ok(), "{} rejected {}: {:?}", ty, value, result);
    }

    #[test]
    fn a_type_error_never_passes_when_wrapped_in_a_list(value in any_json(), ty in any_type()) {
        // Consistency of the two walks: a list holding the value fails exactly when the value
        // fails, and then names index 1.
        let validator = TypeValidator::new();
        let alone = validator.validate_type(&value, &ty);
        let list_ty = TypeExpr::List(Box::new(ty.clone()));
        let wrapped = validator.validate_type(&Value::Array(vec![Value::Bool(true), value]), &list_ty);
        let first_ok = validator.validate_type(&Value::Bool(true), &ty).is_ok();
        if first_ok {
            prop_assert_eq!(alone.is_ok(), wrapped.is_ok());
            if let (Err(a), Err(w)) = (alone, wrapped) {
                prop_assert!(w.path.starts_with("[1]"), "{}", w.path);
                prop_assert_eq!(a.message, w.message);
            }
        }
    }

    #[test]
    fn validate_usage_never_panics_and_partitions_the_fields(
        fields in prop::collection::vec(("[a-e]", any_type()), 0..6),
        usage in prop::collection::vec(("[a-g]", any_json()), 0..8),
    ) {
        let schema = Schema::from_pairs(
            fields.iter().map(|(name, ty)| (name.clone(), ty.to_string())),
        );
        // Duplicate names are a schema error; keep the generated cases that are schemas.
        let Ok(schema) = schema else { return Ok(()) };
        let usage: Map<String, Value> = usage.into_iter().collect();
        match TypeValidator::new().validate_usage(&schema, &usage) {
            Ok(()) => {
                prop_assert!(schema.is_empty() || usage.keys().all(|k| schema.get(k).is_some()));
            }
            Err(e) => {
                prop_assert!(!schema.is_empty());
                prop_assert!(!e.is_empty());
                for name in &e.missing_fields {
                    prop_assert!(!usage.contains_key(name));
                    prop_assert!(schema.get(name).is_some_and(|f: &SchemaField| !f.is_optional()));
                }
                for name in &e.extra_fields {
                    prop_assert!(usage.contains_key(name) && schema.get(name).is_none());
                }
                for path in e.errors.keys() {
                    prop_assert!(
                        schema.fields().iter().any(|f| path.starts_with(&f.name)),
                        "{}", path
                    );
                }
            }
        }
    }
}
