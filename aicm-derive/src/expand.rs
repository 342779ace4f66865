//! The expansion: `impl Usage` and `impl IntoUsage` for a checked struct.

use std::path::Path;

use aicm_schema::Schema;
use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, FieldsNamed, LitStr};

use crate::attrs::UsageAttrs;
use crate::errors::Errors;
use crate::fields::{MatchedField, match_fields};
use crate::marker::marker;
use crate::schema_source::{LoadedSchema, load};
use crate::serde_attrs::ContainerAttrs;
use crate::shape::mentions_any;

/// Expands `#[derive(Usage)]`. `manifest_dir` is `CARGO_MANIFEST_DIR`.
///
/// Errors come out together with as much of the expansion as could be built, so that one
/// compile shows every problem (macro errors and trait-bound errors alike) and the struct's
/// uses do not add "trait not implemented" noise.
pub(crate) fn expand(input: &DeriveInput, manifest_dir: Option<&Path>) -> TokenStream {
    let mut errors = Errors::default();
    let Some(named) = named_fields(input, &mut errors) else {
        return errors.to_compile_errors();
    };
    let attrs = UsageAttrs::parse(&input.attrs, &mut errors);
    let container = ContainerAttrs::parse(&input.attrs, &mut errors);
    let loaded = match &attrs.schema {
        Some(source) => load(source, manifest_dir, &mut errors),
        None => {
            errors.push(
                input.ident.span(),
                "`#[derive(Usage)]` needs the schema: add `#[usage(schema = \"{…}\")]` or \
                 `#[usage(schema_file = \"path.json\")]`",
            );
            None
        }
    };
    let schema = loaded.as_ref().map(|l| &l.schema);
    let mut matched = match_fields(&input.ident, &named.named, schema, &container, &mut errors);
    matched.sort_by_key(|m| m.schema_position);
    let type_schema = type_schema(&matched, &mut errors);
    let impls = emit(input, &attrs, &matched, &type_schema, loaded.as_ref());
    let errors = errors.to_compile_errors();
    quote! {
        #errors
        #impls
    }
}

fn named_fields<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Option<&'a FieldsNamed> {
    let ident = &input.ident;
    let what = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => return Some(named),
            Fields::Unnamed(_) => "a tuple struct",
            Fields::Unit => "a unit struct",
        },
        Data::Enum(_) => "an enum",
        Data::Union(_) => "a union",
    };
    errors.push(
        ident.span(),
        format!(
            "`#[derive(Usage)]` supports structs with named fields only, and `{ident}` is {what}: \
             a usage record is a JSON object of named fields"
        ),
    );
    None
}

/// The schema of what the type sends: its fields, in schema order, with canonical types.
///
/// This (not the whole schema, whose optional fields the struct may leave out) is what the
/// runtime compares with the live schema, so its fingerprint keys that comparison.
fn type_schema(matched: &[MatchedField<'_>], errors: &mut Errors) -> Schema {
    let pairs = matched
        .iter()
        .map(|m| (m.json_name.clone(), m.ty.to_string()));
    match Schema::from_pairs(pairs) {
        Ok(schema) => schema,
        Err(e) => {
            // Canonical type strings always parse again; say so loudly if they ever do not.
            errors.push(
                Span::call_site(),
                format!("aicm-derive bug: canonical schema did not parse: {e}"),
            );
            Schema::empty()
        }
    }
}

fn emit(
    input: &DeriveInput,
    attrs: &UsageAttrs,
    matched: &[MatchedField<'_>],
    type_schema: &Schema,
    loaded: Option<&LoadedSchema>,
) -> TokenStream {
    let krate = krate_path(attrs);
    let conform = quote!(#krate::__private::conform);
    let ident = &input.ident;
    let type_name = LitStr::new(&ident.unraw().to_string(), ident.span());
    let schema_json = type_schema.canonical_json();
    let fingerprint = Literal::u64_suffixed(type_schema.fingerprint());
    let config_id = match &attrs.config_id {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };

    let type_params: Vec<syn::Ident> = input
        .generics
        .type_params()
        .map(|p| p.ident.clone())
        .collect();
    let mut predicates: Vec<TokenStream> = input
        .generics
        .where_clause
        .iter()
        .flat_map(|w| w.predicates.iter().map(ToTokens::to_token_stream))
        .collect();
    if !type_params.is_empty() {
        predicates.push(quote!(Self: #krate::__private::serde::Serialize));
    }

    let mut field_checks = Vec::new();
    for (index, m) in matched.iter().enumerate() {
        if !m.check_conformance {
            continue;
        }
        let ty = &m.field.ty;
        let span = ty.span();
        let marker = marker(&m.ty, &conform, span);
        if mentions_any(ty, &type_params) {
            predicates.push(quote_spanned! {span=>
                *const #ty: #krate::__private::FieldConforms<#marker, Value = #ty>
            });
        }
        // The whole path carries the type's span, so an unmet bound is reported on the field's
        // type rather than on the derive.
        let krate_here = respan(&krate, span);
        let check = quote_spanned! {span=>
            #krate_here::__private::check_field::<#ty, #marker>
        };
        // The argument `&self.field` runs from the type's first token to its last, so that an
        // unmet bound (which rustc reports on the argument) underlines exactly the field's type.
        let mut field = m.ident.clone();
        field.set_span(last_span(ty));
        let json_name = &m.json_name;
        field_checks.push(quote_spanned! {span=>
            #check(&self.#field, #json_name, #index, &mut __aicm_checker);
        });
    }
    let where_clause = if predicates.is_empty() {
        quote!()
    } else {
        quote!(where #(#predicates,)*)
    };

    let check_fn = if field_checks.is_empty() {
        quote! {
            #[inline]
            fn check(&self) -> ::core::result::Result<(), #krate::UsageValidationError> {
                ::core::result::Result::Ok(())
            }
        }
    } else {
        quote! {
            #[inline]
            fn check(&self) -> ::core::result::Result<(), #krate::UsageValidationError> {
                static __AICM_SCHEMA: #krate::__private::SchemaCell =
                    #krate::__private::SchemaCell::new();
                let mut __aicm_checker =
                    #krate::__private::Checker::new(&__AICM_SCHEMA, #schema_json);
                #(#field_checks)*
                __aicm_checker.finish()
            }
        }
    };

    // Owned or borrowed, the record is checked and serialised by reference on the caller's
    // thread, so the owned impl asks nothing more of the type (no `Send + 'static`).
    let prepare = quote!(#krate::__private::prepare_borrowed(&self, ctx));

    let include = loaded
        .and_then(|l| l.file.as_ref())
        .and_then(|path| path.to_str())
        .map(|path| {
            quote!(
                const _: &[u8] = ::core::include_bytes!(#path);
            )
        });

    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    quote! {
        #include

        impl #impl_generics #krate::Usage for #ident #ty_generics #where_clause {
            const TYPE_NAME: &'static str = #type_name;
            const SCHEMA: &'static str = #schema_json;
            const FINGERPRINT: u64 = #fingerprint;
            const CONFIG_ID: ::core::option::Option<&'static str> = #config_id;
            #check_fn
        }

        impl #impl_generics #krate::IntoUsage for #ident #ty_generics #where_clause {
            #[inline]
            fn into_prepared(
                self,
                ctx: &#krate::__private::TrackContext<'_>,
            ) -> ::core::result::Result<#krate::PreparedUsage, #krate::TrackError> {
                #prepare
            }
        }
    }
}

/// Where the `aicm` crate is: `#[usage(crate = "…")]`, else `::aicm`.
fn krate_path(attrs: &UsageAttrs) -> TokenStream {
    match &attrs.krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::aicm),
    }
}

/// `tokens` with every span set to `span`.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(group) = &tt {
                let mut inner = Group::new(group.delimiter(), respan(&group.stream(), span));
                inner.set_span(span);
                tt = TokenTree::Group(inner);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// The span of the last token of `ty` (the closing bracket of a group).
fn last_span(ty: &syn::Type) -> Span {
    ty.to_token_stream().into_iter().last().map_or_else(
        || ty.span(),
        |tt| match tt {
            TokenTree::Group(group) => group.span_close(),
            other => other.span(),
        },
    )
}
