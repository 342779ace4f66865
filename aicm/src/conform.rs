//! Which Rust types may stand for which schema types: the trait bounds behind
//! `#[derive(Usage)]`'s compile-time type check.
//!
//! Each schema type has a zero-sized marker type here ([`Int`], [`List<T>`](List),
//! [`Optional<T>`](Optional), …) and a trait ([`IsInt`], [`IsList<T>`](IsList), …) that the Rust
//! types standing for it implement. The derive turns a field's schema type into its marker and
//! requires `FieldType: Conforms<Marker>`, which holds exactly when the field type implements the
//! matching `Is…` trait. Because it is a trait bound, type aliases, generic parameters and your
//! own newtypes work.
//!
//! | schema type | Rust types |
//! |---|---|
//! | `int` | `i8`…`i128`, `u8`…`u128`, `isize`, `usize`, `NonZero<…>` of those |
//! | `float` | `f64`, `f32`, `serde_json::Number` |
//! | `str` | `String`, `str` (as `&str`, `Box<str>`, `Cow<str>`, `Arc<str>`…), `char` |
//! | `bool` | `bool` |
//! | `List[T]` | `Vec<U>`, `[U]`, `[U; N]`, `VecDeque<U>`, `LinkedList<U>`, `BTreeSet<U>`, `HashSet<U>` with `U` conforming to `T` |
//! | `Dict[K, V]` | `BTreeMap<KU, VU>`, `HashMap<KU, VU>` with `KU` conforming to `K` and `VU` to `V`; `serde_json::Map` for `Dict[str, V]` |
//! | `Optional[T]` | `Option<U>` with `U` conforming to `T` |
//! | `Union[A, B, …]` | `serde_json::Value`, or your type implementing [`IsUnion`] |
//! | `list`, `tuple` | the list types above with any elements, tuples |
//! | `set` | `BTreeSet<U>`, `HashSet<U>` |
//! | `dict` | the map types above with any keys and values |
//! | `Any` | all of the above (a field of type `Any` accepts any `Serialize` type) |
//!
//! A `serde_json::Value` conforms to every schema type; `track` checks it against the schema
//! type with the [`TypeValidator`](crate::TypeValidator). References, `Box`, `Rc`, `Arc` and
//! `Cow` conform to whatever they point to.
//!
//! Integer types do not conform to `float`: the schema's `float` accepts any JSON number, but
//! an integer field would write `1` where services that read the schema with Python's
//! semantics expect `1.0`. Use `f64`.
//!
//! # Newtypes and unions
//!
//! A newtype that serialises as a schema type implements its `Is…` trait. The trait's
//! [`check_value`](IsFloat::check_value) is the `track`-time check; override it (with
//! `NEEDS_CHECK = true`) when the value can be invalid, as a float can be NaN:
//!
//! ```
//! use aicm::Usage;
//! use aicm::conform::{IsFloat, IsInt, IsUnion, Int, Str};
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! #[serde(transparent)]
//! struct Tokens(u32);
//! impl IsInt for Tokens {}
//!
//! #[derive(Serialize)]
//! #[serde(transparent)]
//! struct Seconds(f64);
//! impl IsFloat for Seconds {
//!     const NEEDS_CHECK: bool = true;
//!     fn check_value(&self, ty: &aicm::schema::TypeExpr) -> Result<(), aicm::Mismatch> {
//!         IsFloat::check_value(&self.0, ty)
//!     }
//! }
//!
//! // `Union[str, int]`: the members in the schema's order.
//! #[derive(Serialize)]
//! #[serde(untagged)]
//! enum Outcome {
//!     Label(String),
//!     Code(i64),
//! }
//! impl IsUnion<(Str, Int)> for Outcome {}
//!
//! #[derive(Serialize, Usage)]
//! #[usage(schema = r#"{"tokens": "int", "duration": "float", "outcome": "str | int"}"#)]
//! struct Run {
//!     tokens: Tokens,
//!     duration: Seconds,
//!     outcome: Outcome,
//! }
//!
//! let run = Run { tokens: Tokens(3), duration: Seconds(f64::INFINITY), outcome: Outcome::Code(0) };
//! assert_eq!(run.check().unwrap_err().errors["duration"], "expected a finite float, got inf");
//! ```

use std::marker::PhantomData;

use aicm_schema::TypeExpr;

use crate::Mismatch;
use support::FieldConforms;

mod impls;
pub(crate) mod support;

/// Marker for the schema type `int`.
pub enum Int {}
/// Marker for the schema type `float`.
pub enum Float {}
/// Marker for the schema type `str`.
pub enum Str {}
/// Marker for the schema type `bool`.
pub enum Bool {}
/// Marker for the schema type `list` (any array).
pub enum AnyList {}
/// Marker for the schema type `tuple` (any array).
pub enum Tuple {}
/// Marker for the schema type `set` (an array without duplicates).
pub enum Set {}
/// Marker for the schema type `dict` (any object).
pub enum AnyDict {}
/// Marker for the schema type `Any`.
pub enum Any {}
/// Marker for the schema type `List[T]`.
pub struct List<T>(PhantomData<fn() -> T>, Never);
/// Marker for the schema type `Dict[K, V]`.
pub struct Dict<K, V>(PhantomData<fn() -> (K, V)>, Never);
/// Marker for the schema type `Optional[T]`.
pub struct Optional<T>(PhantomData<fn() -> T>, Never);
/// Marker for the schema type `Union[A, B, …]`: `M` is the tuple of the members' markers in the
/// schema's order, e.g. `Union<(Str, Int)>` for `Union[str, int]` (and for `str | int`).
pub struct Union<M>(PhantomData<fn() -> M>, Never);

/// Makes the generic markers uninhabited, like the plain ones: they are never values.
#[doc(hidden)]
pub enum Never {}

/// `Self` may stand for the schema type whose marker is `S`.
///
/// Implemented through the `Is…` trait of each marker (`T: IsInt` gives `T: Conforms<Int>`);
/// implement those, not this. The derive requires it of every field, and calls
/// [`check_value`](Conforms::check_value) from `Usage::check` when
/// [`NEEDS_CHECK`](Conforms::NEEDS_CHECK) says a value can fail.
pub trait Conforms<S> {
    /// Whether [`check_value`](Conforms::check_value) can fail, so that `track` skips it
    /// entirely (and costs nothing) for types that are always valid.
    const NEEDS_CHECK: bool;

    /// The `track`-time check of a value the compiler could not fully check (a float's
    /// finiteness, a `serde_json::Value`'s shape). `ty` is the parsed schema type that `S`
    /// stands for, still wrapped in `Optional[..]` when reached through an `Option` (a
    /// `Some(Value::Null)` is written as null, which only the optional type accepts). The
    /// error's `path` is relative to the value (`[2]`, `key`, or empty).
    fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch>;
}

macro_rules! schema_trait {
    (
        $(#[$doc:meta])*
        $name:ident $(<$($g:ident),+>)? => $marker:ty,
        message = $message:literal,
        label = $label:literal,
        note = $note:literal $(,)?
    ) => {
        $(#[$doc])*
        #[diagnostic::on_unimplemented(message = $message, label = $label, note = $note)]
        pub trait $name $(<$($g),+>)? {
            /// Whether [`check_value`](Self::check_value) can fail (default: no).
            const NEEDS_CHECK: bool = false;

            /// The `track`-time check; see [`Conforms::check_value`]. Default: always valid.
            fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch> {
                let _ = ty;
                Ok(())
            }
        }

        impl<$($($g,)+)? T: ?Sized + $name $(<$($g),+>)?> Conforms<$marker> for T {
            const NEEDS_CHECK: bool = <T as $name $(<$($g),+>)?>::NEEDS_CHECK;

            #[inline]
            fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch> {
                <T as $name $(<$($g),+>)?>::check_value(self, ty)
            }
        }

        impl<$($($g,)+)? T: ?Sized + $name $(<$($g),+>)?> FieldConforms<$marker> for *const T {
            type Value = T;
            const NEEDS_CHECK: bool = <T as $name $(<$($g),+>)?>::NEEDS_CHECK;

            #[inline(always)]
            fn check_value(value: &T, ty: &TypeExpr) -> Result<(), Mismatch> {
                <T as $name $(<$($g),+>)?>::check_value(value, ty)
            }
        }
    };
}

schema_trait! {
    /// Types that serialise as a JSON integer: the schema type `int`.
    IsInt => Int,
    message = "type `{Self}` does not match schema type `int`",
    label = "expected an integer type for schema type `int`",
    note = "`int` is met by i8…i128, u8…u128, isize, usize, references and smart pointers to \
            them, `serde_json::Value`, and types implementing `aicm::conform::IsInt`",
}

schema_trait! {
    /// Types that serialise as a JSON number: the schema type `float`.
    IsFloat => Float,
    message = "type `{Self}` does not match schema type `float`",
    label = "expected `f64` or `f32` for schema type `float`",
    note = "`float` is met by f64, f32, `serde_json::Value`, and types implementing \
            `aicm::conform::IsFloat`; integer types are not accepted, so that the value is \
            written as a float",
}

schema_trait! {
    /// Types that serialise as a JSON string: the schema type `str`.
    IsStr => Str,
    message = "type `{Self}` does not match schema type `str`",
    label = "expected a string type for schema type `str`",
    note = "`str` is met by String, &str, Box<str>, Cow<str>, Arc<str>, char, \
            `serde_json::Value`, and types implementing `aicm::conform::IsStr`",
}

schema_trait! {
    /// Types that serialise as a JSON boolean: the schema type `bool`.
    IsBool => Bool,
    message = "type `{Self}` does not match schema type `bool`",
    label = "expected `bool` for schema type `bool`",
    note = "`bool` is met by bool, `serde_json::Value`, and types implementing \
            `aicm::conform::IsBool`",
}

schema_trait! {
    /// Types that serialise as a JSON array of `T`: the schema type `List[T]`.
    IsList<E> => List<E>,
    message = "type `{Self}` does not match schema type `List[{E}]`",
    label = "expected a list type for schema type `List[..]`",
    note = "`List[T]` is met by Vec<U>, &[U], [U; N], VecDeque<U>, BTreeSet<U>, HashSet<U> \
            whose `U` matches `T`, `serde_json::Value`, and types implementing \
            `aicm::conform::IsList`",
}

schema_trait! {
    /// Types that serialise as a JSON object with keys `K` and values `V`: the schema type
    /// `Dict[K, V]`.
    IsDict<K, V> => Dict<K, V>,
    message = "type `{Self}` does not match schema type `Dict[{K}, {V}]`",
    label = "expected a map type for schema type `Dict[..]`",
    note = "`Dict[K, V]` is met by BTreeMap<KU, VU> and HashMap<KU, VU> whose keys match `K` \
            and values match `V`, `serde_json::Map` for `Dict[str, ..]`, `serde_json::Value`, \
            and types implementing `aicm::conform::IsDict`",
}

schema_trait! {
    /// Types that serialise as `T` or null: the schema type `Optional[T]`.
    IsOptional<E> => Optional<E>,
    message = "type `{Self}` does not match schema type `Optional[{E}]`",
    label = "expected an `Option<..>` for schema type `Optional[..]`",
    note = "`Optional[T]` is met by Option<U> whose `U` matches `T`, `serde_json::Value`, and \
            types implementing `aicm::conform::IsOptional`",
}

schema_trait! {
    /// Types that serialise as one of several schema types: `Union[A, B, …]`, with `M` the
    /// tuple of the members' markers in the schema's order (`(Str, Int)` for `str | int`).
    ///
    /// Implement it for an untagged enum whose variants hold the members (`aicm-codegen`
    /// generates such enums), or use a `serde_json::Value` field.
    IsUnion<M> => Union<M>,
    message = "type `{Self}` does not match a union schema type (members `{M}`)",
    label = "expected `serde_json::Value` or a type implementing `IsUnion` for this union",
    note = "a union is met by `serde_json::Value` (checked by `track`) or by an untagged enum \
            implementing `aicm::conform::IsUnion<(..)>` with the members' markers in the \
            schema's order",
}

schema_trait! {
    /// Types that serialise as a JSON array: the schema type `list`.
    IsAnyList => AnyList,
    message = "type `{Self}` does not match schema type `list`",
    label = "expected a list, set or tuple type for schema type `list`",
    note = "`list` is met by Vec, slices, arrays, VecDeque, sets, tuples, `serde_json::Value`, \
            and types implementing `aicm::conform::IsAnyList`",
}

schema_trait! {
    /// Types that serialise as a JSON array: the schema type `tuple`.
    IsTuple => Tuple,
    message = "type `{Self}` does not match schema type `tuple`",
    label = "expected a tuple or list type for schema type `tuple`",
    note = "`tuple` is met by tuples, Vec, slices, arrays, VecDeque, sets, \
            `serde_json::Value`, and types implementing `aicm::conform::IsTuple`",
}

schema_trait! {
    /// Types that serialise as a JSON array without duplicates: the schema type `set`.
    IsSet => Set,
    message = "type `{Self}` does not match schema type `set`",
    label = "expected BTreeSet or HashSet for schema type `set`",
    note = "`set` is met by BTreeSet, HashSet, `serde_json::Value` (checked for duplicates by \
            `track`), and types implementing `aicm::conform::IsSet`",
}

schema_trait! {
    /// Types that serialise as a JSON object: the schema type `dict`.
    IsAnyDict => AnyDict,
    message = "type `{Self}` does not match schema type `dict`",
    label = "expected a map type for schema type `dict`",
    note = "`dict` is met by BTreeMap, HashMap, `serde_json::Map`, `serde_json::Value`, and \
            types implementing `aicm::conform::IsAnyDict`",
}

schema_trait! {
    /// Types that may stand inside the schema type `Any` (`List[Any]`, `Dict[str, Any]`).
    ///
    /// A field whose own schema type is `Any` needs no trait at all: any `Serialize` type will do.
    IsAny => Any,
    message = "type `{Self}` is not known to serialise as JSON for schema type `Any`",
    label = "expected a JSON-like type for schema type `Any`",
    note = "inside `Any`, the scalar, string, list, map and option types of `aicm::conform` and \
            `serde_json::Value` are accepted; implement `aicm::conform::IsAny` for your own",
}
