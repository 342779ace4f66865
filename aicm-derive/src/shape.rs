//! What the macro can tell about a field's type from its syntax alone.
//!
//! Conformance proper is decided by the trait system (so aliases and newtypes work); these
//! checks only give a clearer message where the syntax already settles the question.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

/// Whether the type is written `Option<..>` (under any path, e.g. `std::option::Option<T>`).
pub(crate) fn is_option(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|last| {
            last.ident == "Option" && matches!(last.arguments, PathArguments::AngleBracketed(_))
        }),
        Type::Paren(p) => is_option(&p.elem),
        Type::Group(g) => is_option(&g.elem),
        _ => false,
    }
}

/// Names of types that are certainly not an `Option` (primitives and std containers).
const NOT_OPTION: &[&str] = &[
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "f32",
    "f64",
    "bool",
    "char",
    "str",
    "String",
    "Vec",
    "VecDeque",
    "LinkedList",
    "HashMap",
    "BTreeMap",
    "HashSet",
    "BTreeSet",
];

/// Pointer types that serialise as what they point to.
const TRANSPARENT: &[&str] = &["Box", "Rc", "Arc", "Cow"];

/// Whether the syntax shows that the type cannot be an `Option`: a primitive, a std container,
/// a slice, array or tuple, or a reference or smart pointer to one. Anything the macro cannot
/// see through (aliases, newtypes, generic parameters, `Value`) is left to the trait check.
pub(crate) fn visibly_not_option(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return false;
            };
            let name = last.ident.to_string();
            if NOT_OPTION.contains(&name.as_str()) {
                return true;
            }
            if TRANSPARENT.contains(&name.as_str())
                && let PathArguments::AngleBracketed(args) = &last.arguments
            {
                return args.args.iter().any(|arg| match arg {
                    GenericArgument::Type(inner) => visibly_not_option(inner),
                    _ => false,
                });
            }
            false
        }
        Type::Reference(r) => visibly_not_option(&r.elem),
        Type::Slice(_) | Type::Array(_) | Type::Tuple(_) => true,
        Type::Paren(p) => visibly_not_option(&p.elem),
        Type::Group(g) => visibly_not_option(&g.elem),
        _ => false,
    }
}

/// Whether the type mentions any of `params` (the struct's type parameters).
pub(crate) fn mentions_any(ty: &Type, params: &[syn::Ident]) -> bool {
    !params.is_empty() && tokens_mention(ty.to_token_stream(), params)
}

fn tokens_mention(tokens: TokenStream, params: &[syn::Ident]) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(ident) => params.contains(&ident),
        TokenTree::Group(group) => tokens_mention(group.stream(), params),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> Type {
        syn::parse_str(s).unwrap()
    }

    #[test]
    fn option_is_recognised_under_any_path() {
        assert!(is_option(&ty("Option<i64>")));
        assert!(is_option(&ty("std::option::Option<&'a str>")));
        assert!(!is_option(&ty("Option")));
        assert!(!is_option(&ty("MaybeInt")));
        assert!(!is_option(&ty("Vec<Option<i64>>")));
    }

    #[test]
    fn only_visible_non_options_are_flagged() {
        for t in [
            "String",
            "i64",
            "&'a str",
            "Vec<Option<i64>>",
            "Box<str>",
            "std::borrow::Cow<'a, str>",
            "[u8; 4]",
            "&'a [i64]",
            "(i64, i64)",
            "std::collections::BTreeMap<String, i64>",
        ] {
            assert!(visibly_not_option(&ty(t)), "{t}");
        }
        for t in [
            "Option<String>",
            "MaybeInt",
            "T",
            "serde_json::Value",
            "Box<Option<i64>>",
            "Box<MaybeInt>",
            "&'a Note",
        ] {
            assert!(!visibly_not_option(&ty(t)), "{t}");
        }
    }

    #[test]
    fn type_parameters_are_found_at_any_depth() {
        let params: Vec<syn::Ident> = vec![syn::parse_str("T").unwrap()];
        assert!(mentions_any(&ty("T"), &params));
        assert!(mentions_any(&ty("Vec<Option<T>>"), &params));
        assert!(mentions_any(&ty("&'a [T; 3]"), &params));
        assert!(!mentions_any(&ty("Vec<Tee>"), &params));
        assert!(!mentions_any(&ty("String"), &[]));
    }
}
