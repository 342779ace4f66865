//! Schema types as the zero-sized marker types of `aicm::conform`, which the trait bounds of the
//! expansion name.

use aicm_schema::TypeExpr;
use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;

/// The marker type for `ty`, e.g. `List[Optional[int]]` becomes
/// `<conform>::List<<conform>::Optional<<conform>::Int>>`, with every token at `span` so that a
/// failing bound is reported on the field's type.
pub(crate) fn marker(ty: &TypeExpr, conform: &TokenStream, span: Span) -> TokenStream {
    let c = conform;
    match ty {
        TypeExpr::Any => quote_spanned!(span=> #c::Any),
        TypeExpr::Int => quote_spanned!(span=> #c::Int),
        TypeExpr::Float => quote_spanned!(span=> #c::Float),
        TypeExpr::Str => quote_spanned!(span=> #c::Str),
        TypeExpr::Bool => quote_spanned!(span=> #c::Bool),
        TypeExpr::AnyList => quote_spanned!(span=> #c::AnyList),
        TypeExpr::Tuple => quote_spanned!(span=> #c::Tuple),
        TypeExpr::Set => quote_spanned!(span=> #c::Set),
        TypeExpr::AnyDict => quote_spanned!(span=> #c::AnyDict),
        TypeExpr::List(elem) => {
            let elem = marker(elem, c, span);
            quote_spanned!(span=> #c::List<#elem>)
        }
        TypeExpr::Dict(key, value) => {
            let key = marker(key, c, span);
            let value = marker(value, c, span);
            quote_spanned!(span=> #c::Dict<#key, #value>)
        }
        TypeExpr::Optional(inner) => {
            let inner = marker(inner, c, span);
            quote_spanned!(span=> #c::Optional<#inner>)
        }
        TypeExpr::Union(members) => {
            let members = members.iter().map(|m| marker(m, c, span));
            quote_spanned!(span=> #c::Union<(#(#members,)*)>)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn text(ty: &str) -> String {
        let ty: TypeExpr = ty.parse().unwrap();
        marker(&ty, &quote!(c), Span::call_site())
            .to_string()
            .replace(' ', "")
    }

    #[test]
    fn nested_types_become_nested_markers() {
        assert_eq!(text("int"), "c::Int");
        assert_eq!(
            text("List[Dict[str, List[int]]]"),
            "c::List<c::Dict<c::Str,c::List<c::Int>>>"
        );
        assert_eq!(text("float | None"), "c::Optional<c::Float>");
        assert_eq!(
            text("Union[str, int, List[bool]]"),
            "c::Union<(c::Str,c::Int,c::List<c::Bool>,)>"
        );
        assert_eq!(text("Dict[str, Any]"), "c::Dict<c::Str,c::Any>");
        assert_eq!(text("list"), "c::AnyList");
        assert_eq!(text("dict"), "c::AnyDict");
        assert_eq!(text("tuple"), "c::Tuple");
        assert_eq!(text("set"), "c::Set");
    }
}
