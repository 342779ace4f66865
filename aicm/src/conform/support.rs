//! The run-time half of the derive: `Usage::check`'s walk over the fields that can fail, and
//! the paths its errors name (`scores[2]`, `meta.x`), which match the TypeValidator's.

use std::sync::OnceLock;

use aicm_schema::{Schema, TypeExpr};

use super::Conforms;
use crate::{Mismatch, UsageValidationError};

/// Stands in for a type the schema does not give (it always does: the derive built both).
static ANY: TypeExpr = TypeExpr::Any;

/// The parsed `Usage::SCHEMA` of one derived type, parsed on its first failing-capable check.
pub type SchemaCell = OnceLock<Schema>;

/// Collects the errors of one `Usage::check` call; allocates nothing while all is well.
pub struct Checker {
    cell: &'static SchemaCell,
    schema_json: &'static str,
    report: Option<UsageValidationError>,
}

impl Checker {
    /// A checker for the type whose `Usage::SCHEMA` is `schema_json`, cached in `cell`.
    pub const fn new(cell: &'static SchemaCell, schema_json: &'static str) -> Checker {
        Checker {
            cell,
            schema_json,
            report: None,
        }
    }

    fn field_type(&self, index: usize) -> &'static TypeExpr {
        let schema = self
            .cell
            .get_or_init(|| Schema::from_json_str(self.schema_json).unwrap_or_default());
        schema.fields().get(index).map_or(&ANY, |f| &f.ty)
    }

    fn record(&mut self, field: &str, mismatch: Mismatch) {
        let path = join(field.to_owned(), &mismatch.path);
        self.report
            .get_or_insert_with(UsageValidationError::default)
            .errors
            .insert(path, mismatch.message);
    }

    /// Every error found, or `Ok` if there was none.
    pub fn finish(self) -> Result<(), UsageValidationError> {
        match self.report {
            None => Ok(()),
            Some(report) => Err(report),
        }
    }
}

/// Checks one field: `F` is its type, `M` the schema type's marker, `name` the field's JSON
/// name and `index` its position in `Usage::SCHEMA`.
///
/// The derive calls it for every field with an explicit `F` and `M` spanned on the field's type,
/// so it is also where a non-conforming field type is reported. For types whose `NEEDS_CHECK`
/// is false it compiles to nothing.
///
/// The bound is on `*const F` rather than on `F: Conforms<M>` because rustc words an unmet
/// bound after the root obligation when the innermost one has the same self type: with
/// `F: Conforms<M>` at the root, `String` for `int` would read "the trait bound
/// `String: Conforms<Int>` is not satisfied"; through `*const F` it reads as the `Is…` trait's
/// message, "type `String` does not match schema type `int`".
#[inline(always)]
pub fn check_field<F, M>(value: &F, name: &'static str, index: usize, checker: &mut Checker)
where
    F: ?Sized,
    *const F: FieldConforms<M, Value = F>,
{
    if <*const F as FieldConforms<M>>::NEEDS_CHECK {
        let ty = checker.field_type(index);
        if let Err(mismatch) = <*const F as FieldConforms<M>>::check_value(value, ty) {
            checker.record(name, mismatch);
        }
    }
}

/// `*const F: FieldConforms<M>` exactly when `F: Conforms<M>`, implemented per marker straight
/// from the `Is…` traits (see `schema_trait!`) so that the `Is…` trait is the one rustc names.
pub trait FieldConforms<M> {
    /// The field's type.
    type Value: ?Sized;
    /// [`Conforms::NEEDS_CHECK`] of the field's type.
    const NEEDS_CHECK: bool;
    /// [`Conforms::check_value`] of the field's type.
    fn check_value(value: &Self::Value, ty: &TypeExpr) -> Result<(), Mismatch>;
}

/// The element type of a `List[T]` (or of an `Optional[List[T]]` reached through `Option`).
pub(crate) fn element_type(ty: &TypeExpr) -> &TypeExpr {
    match ty.strip_optional() {
        TypeExpr::List(elem) => elem,
        _ => &ANY,
    }
}

/// Checks each element against `elem`, naming the first failure's index.
pub(crate) fn check_items<'a, U, E>(
    items: impl IntoIterator<Item = &'a U>,
    elem: &TypeExpr,
) -> Result<(), Mismatch>
where
    U: Conforms<E> + 'a,
{
    if !<U as Conforms<E>>::NEEDS_CHECK {
        return Ok(());
    }
    for (i, item) in items.into_iter().enumerate() {
        item.check_value(elem).map_err(|m| Mismatch {
            path: join(format!("[{i}]"), &m.path),
            message: m.message,
        })?;
    }
    Ok(())
}

/// Checks each value of a map against the value type of `Dict[K, V]`, naming the first failure's
/// key as serde_json writes it.
pub(crate) fn check_entries<'a, KU, VU, V>(
    entries: impl IntoIterator<Item = (&'a KU, &'a VU)>,
    ty: &TypeExpr,
) -> Result<(), Mismatch>
where
    KU: serde::Serialize + 'a,
    VU: Conforms<V> + 'a,
{
    if !<VU as Conforms<V>>::NEEDS_CHECK {
        return Ok(());
    }
    let value_ty = match ty.strip_optional() {
        TypeExpr::Dict(_, value) => value,
        _ => &ANY,
    };
    for (key, value) in entries {
        value.check_value(value_ty).map_err(|m| Mismatch {
            path: join(key_text(key), &m.path),
            message: m.message,
        })?;
    }
    Ok(())
}

/// A map key as it appears in the JSON object (keys serialise as strings).
fn key_text<K: serde::Serialize>(key: &K) -> String {
    match serde_json::to_value(key) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

/// `prefix` followed by a path relative to it: `[2]` and `[2]` give `[2][2]`, `meta` and `x`
/// give `meta.x`, and an empty rest gives `prefix`.
fn join(mut prefix: String, rest: &str) -> String {
    if !rest.is_empty() {
        if !rest.starts_with('[') && !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(rest);
    }
    prefix
}

/// The error for a NaN or infinite float.
pub(crate) fn non_finite(value: f64) -> Mismatch {
    Mismatch {
        path: String::new(),
        message: format!("expected a finite float, got {value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_the_type_validator() {
        assert_eq!(join("tags".into(), "[2]"), "tags[2]");
        assert_eq!(join("meta".into(), "x"), "meta.x");
        assert_eq!(join("meta".into(), "x[1]"), "meta.x[1]");
        assert_eq!(join("[3]".into(), "k"), "[3].k");
        assert_eq!(join("score".into(), ""), "score");
    }

    #[test]
    fn non_finite_floats_are_named() {
        assert_eq!(
            non_finite(f64::NAN).message,
            "expected a finite float, got NaN"
        );
        assert_eq!(
            non_finite(f64::INFINITY).message,
            "expected a finite float, got inf"
        );
        assert_eq!(
            non_finite(f64::NEG_INFINITY).message,
            "expected a finite float, got -inf"
        );
    }
}
