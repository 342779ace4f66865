//! The parsed form of a type string and its canonical printing.

use std::fmt;

/// A parsed, normalised type expression.
///
/// Construct it by parsing (`"List[int]".parse::<TypeExpr>()`) or with the normalising
/// constructors [`TypeExpr::optional`] and [`TypeExpr::union`], so that equal meanings compare
/// equal: `int | None`, `Union[int, None]` and `Optional[int]` all become
/// `Optional(Int)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeExpr {
    /// `Any`: every JSON value, `null` included.
    Any,
    /// `int`: a JSON number without fraction or exponent that fits `i64` or `u64`.
    Int,
    /// `float`: any JSON number.
    Float,
    /// `str`: a JSON string.
    Str,
    /// `bool`: a JSON boolean.
    Bool,
    /// `list`: any JSON array.
    AnyList,
    /// `tuple`: any JSON array.
    Tuple,
    /// `set`: a JSON array without duplicate elements.
    Set,
    /// `dict`: any JSON object.
    AnyDict,
    /// `List[T]` / `list[T]`: an array whose every element is `T`.
    List(Box<TypeExpr>),
    /// `Dict[K, V]` / `dict[K, V]`: an object whose keys parse as `K` and whose values are `V`.
    Dict(Box<TypeExpr>, Box<TypeExpr>),
    /// `Optional[T]`, `T | None`: `T` or `null`; the field may also be absent.
    ///
    /// Never nests and never wraps [`TypeExpr::Any`].
    Optional(Box<TypeExpr>),
    /// `Union[A, B, ...]`, `A | B`: any member matches.
    ///
    /// Always has two or more distinct members, none of them a union, an optional or `Any`.
    Union(Vec<TypeExpr>),
}

impl TypeExpr {
    /// `Optional[inner]`, normalised: `Optional[Optional[T]]` is `Optional[T]` and
    /// `Optional[Any]` is `Any`.
    pub fn optional(inner: TypeExpr) -> TypeExpr {
        match inner {
            TypeExpr::Any => TypeExpr::Any,
            opt @ TypeExpr::Optional(_) => opt,
            other => TypeExpr::Optional(Box::new(other)),
        }
    }

    /// The union of `members`, normalised the way Python's `typing` does: nested unions are
    /// flattened, duplicates removed, a single member stands for itself, an optional member
    /// makes the whole union optional, and `Any` absorbs everything.
    ///
    /// Returns `None` for an empty list of members. Use [`TypeExpr::union_with_none`] to say
    /// that `None` was one of the members.
    pub fn union(members: impl IntoIterator<Item = TypeExpr>) -> Option<TypeExpr> {
        Self::union_with_none(members, false)
    }

    /// Like [`TypeExpr::union`], with `has_none` saying whether `None` was among the members
    /// (which makes the result optional). Returns `None` when there is no member other than
    /// `None`.
    pub fn union_with_none(
        members: impl IntoIterator<Item = TypeExpr>,
        has_none: bool,
    ) -> Option<TypeExpr> {
        let mut flat: Vec<TypeExpr> = Vec::new();
        let mut optional = has_none;
        let mut any = false;
        let push = |t: TypeExpr, flat: &mut Vec<TypeExpr>| {
            if !flat.contains(&t) {
                flat.push(t);
            }
        };
        for member in members {
            let member = match member {
                TypeExpr::Optional(inner) => {
                    optional = true;
                    *inner
                }
                other => other,
            };
            match member {
                TypeExpr::Any => any = true,
                TypeExpr::Union(inner) => inner.into_iter().for_each(|t| push(t, &mut flat)),
                other => push(other, &mut flat),
            }
        }
        if any {
            return Some(TypeExpr::Any);
        }
        let core = match flat.len() {
            0 => return None,
            1 => flat.pop()?,
            _ => TypeExpr::Union(flat),
        };
        Some(if optional {
            TypeExpr::optional(core)
        } else {
            core
        })
    }

    /// Whether `null` is accepted and the field may be absent (`Optional[..]` or `Any`).
    pub fn is_optional(&self) -> bool {
        matches!(self, TypeExpr::Optional(_) | TypeExpr::Any)
    }

    /// The type without its `Optional[..]` wrapper.
    pub fn strip_optional(&self) -> &TypeExpr {
        match self {
            TypeExpr::Optional(inner) => inner,
            other => other,
        }
    }

    /// Whether the type contains a `float` anywhere (such values need a finiteness check).
    pub fn mentions_float(&self) -> bool {
        match self {
            TypeExpr::Float => true,
            TypeExpr::List(t) | TypeExpr::Optional(t) => t.mentions_float(),
            TypeExpr::Dict(k, v) => k.mentions_float() || v.mentions_float(),
            TypeExpr::Union(members) => members.iter().any(TypeExpr::mentions_float),
            _ => false,
        }
    }
}

impl fmt::Display for TypeExpr {
    /// Prints the canonical Python spelling, e.g. `Optional[List[Dict[str, int]]]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeExpr::Any => f.write_str("Any"),
            TypeExpr::Int => f.write_str("int"),
            TypeExpr::Float => f.write_str("float"),
            TypeExpr::Str => f.write_str("str"),
            TypeExpr::Bool => f.write_str("bool"),
            TypeExpr::AnyList => f.write_str("list"),
            TypeExpr::Tuple => f.write_str("tuple"),
            TypeExpr::Set => f.write_str("set"),
            TypeExpr::AnyDict => f.write_str("dict"),
            TypeExpr::List(t) => write!(f, "List[{t}]"),
            TypeExpr::Dict(k, v) => write!(f, "Dict[{k}, {v}]"),
            TypeExpr::Optional(t) => write!(f, "Optional[{t}]"),
            TypeExpr::Union(members) => {
                f.write_str("Union[")?;
                for (i, m) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{m}")?;
                }
                f.write_str("]")
            }
        }
    }
}
