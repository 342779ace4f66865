//! Schema types as Rust types (the mapping of DESIGN.md), collecting one untagged enum per
//! `Union` on the way.

use std::collections::BTreeSet;

use aicm_schema::TypeExpr;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

/// Where the conformance traits and marker types of `aicm` live.
pub(crate) fn conform_path() -> TokenStream {
    quote!(::aicm::conform)
}

/// A generated enum for one `Union[...]`.
#[derive(Debug, Clone)]
pub(crate) struct UnionEnum {
    pub(crate) name: Ident,
    /// The union itself, for its conformance impl and doc comment.
    pub(crate) ty: TypeExpr,
    /// Variants in the order serde tries them when deserialising.
    pub(crate) variants: Vec<Variant>,
}

#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub(crate) name: Ident,
    pub(crate) member: TypeExpr,
    pub(crate) rust: TokenStream,
}

/// Maps types for one module, keeping type names unique across it.
pub(crate) struct TypeMapper<'a> {
    /// Every type name already used in the module (structs first, then enums).
    taken: &'a mut BTreeSet<String>,
    /// Enums produced so far, in the order they were met.
    pub(crate) enums: Vec<UnionEnum>,
}

impl<'a> TypeMapper<'a> {
    pub(crate) fn new(taken: &'a mut BTreeSet<String>) -> TypeMapper<'a> {
        TypeMapper {
            taken,
            enums: Vec::new(),
        }
    }

    /// The Rust type for `ty`; a union becomes an enum named `hint` (or `hint2`, ... when that
    /// name is taken).
    pub(crate) fn rust_type(&mut self, ty: &TypeExpr, hint: &str) -> TokenStream {
        let value = quote!(::serde_json::Value);
        match ty {
            TypeExpr::Any => value,
            TypeExpr::Int => quote!(i64),
            TypeExpr::Float => quote!(f64),
            TypeExpr::Str => quote!(String),
            TypeExpr::Bool => quote!(bool),
            TypeExpr::AnyList | TypeExpr::Tuple => quote!(Vec<#value>),
            // No Rust set holds arbitrary JSON (a `Value` is not `Ord` or `Hash`): the
            // TypeValidator checks uniqueness when the record is tracked.
            TypeExpr::Set => value,
            TypeExpr::AnyDict => quote!(::serde_json::Map<String, #value>),
            TypeExpr::List(elem) => {
                let elem = self.rust_type(elem, hint);
                quote!(Vec<#elem>)
            }
            TypeExpr::Dict(key, val) => match map_key(key) {
                Some(key) => {
                    let val = self.rust_type(val, hint);
                    quote!(::std::collections::BTreeMap<#key, #val>)
                }
                // Keys no Rust map key type can stand for (float, containers): the whole dict
                // is a `Value`, which the TypeValidator checks when the record is tracked.
                None => value,
            },
            TypeExpr::Optional(inner) => {
                let inner = self.rust_type(inner, hint);
                quote!(Option<#inner>)
            }
            TypeExpr::Union(members) => {
                let name = self.union_enum(ty, members, hint);
                quote!(#name)
            }
        }
    }

    fn union_enum(&mut self, ty: &TypeExpr, members: &[TypeExpr], hint: &str) -> Ident {
        let name = self.claim(hint);
        // Reserve the slot now so that enums of nested unions come after their parent.
        let slot = self.enums.len();
        self.enums.push(UnionEnum {
            name: name.clone(),
            ty: ty.clone(),
            variants: Vec::new(),
        });
        let mut used = BTreeSet::new();
        let mut variants: Vec<Variant> = members
            .iter()
            .map(|member| {
                let base = variant_base(member);
                let mut variant = base.clone();
                let mut n = 2;
                while !used.insert(variant.clone()) {
                    variant = format!("{base}{n}");
                    n += 1;
                }
                let rust = self.rust_type(member, &format!("{name}{variant}"));
                Variant {
                    name: Ident::new(&variant, Span::call_site()),
                    member: member.clone(),
                    rust,
                }
            })
            .collect();
        // serde tries untagged variants in order: the catch-alls go last so that `3` stays an
        // `Int` in `Union[float, int]` and `[1]` a `List[int]` in `Union[list, List[int]]`.
        variants.sort_by_key(|v| catch_all_rank(&v.member));
        self.enums[slot].variants = variants;
        name
    }

    fn claim(&mut self, hint: &str) -> Ident {
        let mut name = hint.to_owned();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{hint}{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        Ident::new(&name, Span::call_site())
    }
}

/// The Rust key type for a `Dict` key type, when serde_json can write and read it as an
/// object key and the map can hold it.
fn map_key(key: &TypeExpr) -> Option<TokenStream> {
    match key {
        TypeExpr::Str | TypeExpr::Any => Some(quote!(String)),
        TypeExpr::Int => Some(quote!(i64)),
        TypeExpr::Bool => Some(quote!(bool)),
        _ => None,
    }
}

/// Whether the Rust type of `ty` holds something only `track` can check: a float (which may
/// be NaN or infinite) or a `serde_json::Value` that stands for a narrower type.
pub(crate) fn needs_runtime_check(ty: &TypeExpr) -> bool {
    match ty {
        TypeExpr::Float | TypeExpr::Set => true,
        TypeExpr::Any
        | TypeExpr::Int
        | TypeExpr::Str
        | TypeExpr::Bool
        | TypeExpr::AnyList
        | TypeExpr::Tuple
        | TypeExpr::AnyDict => false,
        TypeExpr::List(t) | TypeExpr::Optional(t) => needs_runtime_check(t),
        TypeExpr::Dict(k, v) => map_key(k).is_none() || needs_runtime_check(v),
        TypeExpr::Union(members) => members.iter().any(needs_runtime_check),
    }
}

fn catch_all_rank(member: &TypeExpr) -> u8 {
    match member {
        TypeExpr::Float | TypeExpr::AnyList | TypeExpr::Tuple | TypeExpr::Set => 1,
        TypeExpr::AnyDict => 1,
        _ => 0,
    }
}

/// A variant name that says which member it holds: `Int`, `ListStr`, `DictStrInt`,
/// `ListIntOrStr`.
fn variant_base(ty: &TypeExpr) -> String {
    match ty {
        TypeExpr::Any => "Any".into(),
        TypeExpr::Int => "Int".into(),
        TypeExpr::Float => "Float".into(),
        TypeExpr::Str => "Str".into(),
        TypeExpr::Bool => "Bool".into(),
        TypeExpr::AnyList => "List".into(),
        TypeExpr::Tuple => "Tuple".into(),
        TypeExpr::Set => "Set".into(),
        TypeExpr::AnyDict => "Dict".into(),
        TypeExpr::List(t) => format!("List{}", variant_base(t)),
        TypeExpr::Dict(k, v) => format!("Dict{}{}", variant_base(k), variant_base(v)),
        TypeExpr::Optional(t) => format!("Optional{}", variant_base(t)),
        TypeExpr::Union(ms) => ms.iter().map(variant_base).collect::<Vec<_>>().join("Or"),
    }
}

/// The marker type of `aicm`'s conformance traits for `ty`, e.g.
/// `c::Union<(c::Str, c::List<c::Int>)>` with `c` standing for [`conform_path`]; it must spell
/// exactly what `#[derive(Usage)]` asks for.
pub(crate) fn marker(ty: &TypeExpr) -> TokenStream {
    let c = quote!(c);
    match ty {
        TypeExpr::Any => quote!(#c::Any),
        TypeExpr::Int => quote!(#c::Int),
        TypeExpr::Float => quote!(#c::Float),
        TypeExpr::Str => quote!(#c::Str),
        TypeExpr::Bool => quote!(#c::Bool),
        TypeExpr::AnyList => quote!(#c::AnyList),
        TypeExpr::Tuple => quote!(#c::Tuple),
        TypeExpr::Set => quote!(#c::Set),
        TypeExpr::AnyDict => quote!(#c::AnyDict),
        TypeExpr::List(t) => {
            let t = marker(t);
            quote!(#c::List<#t>)
        }
        TypeExpr::Dict(k, v) => {
            let k = marker(k);
            let v = marker(v);
            quote!(#c::Dict<#k, #v>)
        }
        TypeExpr::Optional(t) => {
            let t = marker(t);
            quote!(#c::Optional<#t>)
        }
        TypeExpr::Union(ms) => {
            let ms = ms.iter().map(marker);
            quote!(#c::Union<(#(#ms,)*)>)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(ty: &str) -> (String, Vec<String>) {
        let mut taken = BTreeSet::new();
        let mut mapper = TypeMapper::new(&mut taken);
        let ty: TypeExpr = ty.parse().unwrap();
        let rust = mapper.rust_type(&ty, "Hint").to_string().replace(' ', "");
        let enums = mapper
            .enums
            .iter()
            .map(|e| {
                let vs: Vec<String> = e
                    .variants
                    .iter()
                    .map(|v| format!("{}({})", v.name, v.rust.to_string().replace(' ', "")))
                    .collect();
                format!("{}={}", e.name, vs.join(","))
            })
            .collect();
        (rust, enums)
    }

    #[test]
    fn scalar_and_container_types_follow_the_design_mapping() {
        assert_eq!(map("int").0, "i64");
        assert_eq!(map("float").0, "f64");
        assert_eq!(map("str").0, "String");
        assert_eq!(map("bool").0, "bool");
        assert_eq!(map("Any").0, "::serde_json::Value");
        assert_eq!(map("list").0, "Vec<::serde_json::Value>");
        assert_eq!(map("set").0, "::serde_json::Value");
        assert_eq!(
            map("dict").0,
            "::serde_json::Map<String,::serde_json::Value>"
        );
        assert_eq!(map("List[Optional[int]]").0, "Vec<Option<i64>>");
        assert_eq!(
            map("Dict[str, List[float]]").0,
            "::std::collections::BTreeMap<String,Vec<f64>>"
        );
        assert_eq!(
            map("Dict[int, str]").0,
            "::std::collections::BTreeMap<i64,String>"
        );
        assert_eq!(map("Dict[float, str]").0, "::serde_json::Value");
    }

    #[test]
    fn unions_become_enums_with_catch_alls_last() {
        let (rust, enums) = map("Union[float, int, List[Union[str, bool]]]");
        assert_eq!(rust, "Hint");
        assert_eq!(
            enums,
            vec![
                "Hint=Int(i64),ListStrOrBool(Vec<HintListStrOrBool>),Float(f64)".to_owned(),
                "HintListStrOrBool=Str(String),Bool(bool)".to_owned(),
            ]
        );
    }

    #[test]
    fn enum_names_never_repeat() {
        let mut taken = BTreeSet::from(["Hint".to_owned()]);
        let mut mapper = TypeMapper::new(&mut taken);
        let ty: TypeExpr = "Union[int, str]".parse().unwrap();
        let rust = mapper.rust_type(&ty, "Hint").to_string();
        assert_eq!(rust, "Hint2");
    }
}
