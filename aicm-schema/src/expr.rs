//! The parsed form of a type string and its canonical printing.

use std::fmt;

/// A parsed, normalised type expression.
///
/// Construct it by parsing (`"List[int]".parse::<TypeExpr>()`) or with the normalising
/// constructors [`TypeExpr::optional`] and [`TypeExpr::union`], so that equal meanings compare
/// equal: `int | None`, `Union[int, None]` and `Optional[int]` all become
/// `Optional(Int)`. The variants are public so that code can match on them; a value built
/// from them by hand may break the invariants below, which [`TypeExpr::normalized`] restores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeExpr {
    /// `Any`: every JSON value, `null` included. A field typed `Any` must still be present;
    /// `Optional[Any]` is the one that may be absent.
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
    /// When normalised, never nests.
    Optional(Box<TypeExpr>),
    /// `Union[A, B, ...]`, `A | B`: any member matches.
    ///
    /// When normalised, has two or more distinct members, none of them a union, an optional or
    /// `Any`.
    Union(Vec<TypeExpr>),
}

impl TypeExpr {
    /// `Optional[inner]`, normalised: `Optional[Optional[T]]` is `Optional[T]`.
    ///
    /// `Optional[Any]` stays what it is rather than collapsing to `Any`: both accept every
    /// value, but only the optional one lets the field be absent (as in Python, where
    /// `Optional[Any]` is kept as written).
    pub fn optional(inner: TypeExpr) -> TypeExpr {
        match inner {
            opt @ TypeExpr::Optional(_) => opt,
            other => TypeExpr::Optional(Box::new(other)),
        }
    }

    /// The union of `members`, normalised the way Python's `typing` does: nested unions are
    /// flattened, duplicates removed (first occurrence kept), a single member stands for
    /// itself, and an optional member makes the whole union optional. Unlike Python, `Any`
    /// absorbs the other members (`Union[int, Any]` is `Any`), since it accepts what they do.
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
        let mut acc = UnionMembers {
            flat: Vec::new(),
            optional: has_none,
            any: false,
        };
        for member in members {
            acc.absorb(member);
        }
        let UnionMembers {
            mut flat,
            optional,
            any,
        } = acc;
        let core = match flat.len() {
            _ if any => TypeExpr::Any,
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

    /// Whether the field may be absent (`Optional[..]`, whatever the spelling).
    ///
    /// `Any` accepts `null` but is not optional: a field typed `Any` must be present.
    pub fn is_optional(&self) -> bool {
        matches!(self, TypeExpr::Optional(_))
    }

    /// The type without its `Optional[..]` wrapper.
    pub fn strip_optional(&self) -> &TypeExpr {
        match self {
            TypeExpr::Optional(inner) => inner,
            other => other,
        }
    }

    /// The same type with the invariants of [`TypeExpr::Optional`] and [`TypeExpr::Union`]
    /// restored, for values built from the variants by hand. Parsing already returns
    /// normalised types, and printing then parsing a normalised type gives it back unchanged.
    ///
    /// A `Union` with no members (which no string can spell) stays an empty `Union`.
    pub fn normalized(self) -> TypeExpr {
        match self {
            TypeExpr::List(t) => TypeExpr::List(Box::new(t.normalized())),
            TypeExpr::Dict(k, v) => {
                TypeExpr::Dict(Box::new(k.normalized()), Box::new(v.normalized()))
            }
            TypeExpr::Optional(t) => TypeExpr::optional(t.normalized()),
            TypeExpr::Union(members) => {
                TypeExpr::union(members.into_iter().map(TypeExpr::normalized))
                    .unwrap_or(TypeExpr::Union(Vec::new()))
            }
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

/// The members of a union being flattened.
struct UnionMembers {
    flat: Vec<TypeExpr>,
    optional: bool,
    any: bool,
}

impl UnionMembers {
    /// Adds one member, looking through `Optional` and nested unions at any depth so that
    /// even hand-built, unnormalised members come out flat.
    fn absorb(&mut self, member: TypeExpr) {
        match member {
            TypeExpr::Optional(inner) => {
                self.optional = true;
                self.absorb(*inner);
            }
            TypeExpr::Any => self.any = true,
            TypeExpr::Union(inner) => inner.into_iter().for_each(|t| self.absorb(t)),
            other => {
                if !self.flat.contains(&other) {
                    self.flat.push(other);
                }
            }
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
