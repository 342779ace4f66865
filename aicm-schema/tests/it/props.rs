//! Properties of the parser and printer over generated types and strings.

use aicm_schema::{Schema, TypeExpr};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = TypeExpr> {
    prop_oneof![
        Just(TypeExpr::Any),
        Just(TypeExpr::Int),
        Just(TypeExpr::Float),
        Just(TypeExpr::Str),
        Just(TypeExpr::Bool),
        Just(TypeExpr::AnyList),
        Just(TypeExpr::Tuple),
        Just(TypeExpr::Set),
        Just(TypeExpr::AnyDict),
    ]
}

/// Any expression built from the variants, normalised or not (never an empty union, which no
/// string can spell).
fn any_expr() -> impl Strategy<Value = TypeExpr> {
    leaf().prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| TypeExpr::List(Box::new(t))),
            (inner.clone(), inner.clone())
                .prop_map(|(k, v)| TypeExpr::Dict(Box::new(k), Box::new(v))),
            inner.clone().prop_map(|t| TypeExpr::Optional(Box::new(t))),
            prop::collection::vec(inner, 1..4).prop_map(TypeExpr::Union),
        ]
    })
}

/// Whitespace is marked with `\u{1}` while a spelling is built, then filled in.
const WS: char = '\u{1}';

/// A type with one of its many spellings (builtin or typing generics, `|` or `Union[...]`,
/// `T | None` or `Optional[T]`), whitespace still marked.
fn spelled() -> impl Strategy<Value = (TypeExpr, String)> {
    let names = prop_oneof![
        Just((TypeExpr::Any, "Any")),
        Just((TypeExpr::Int, "int")),
        Just((TypeExpr::Float, "float")),
        Just((TypeExpr::Str, "str")),
        Just((TypeExpr::Bool, "bool")),
        Just((TypeExpr::AnyList, "list")),
        Just((TypeExpr::Tuple, "tuple")),
        Just((TypeExpr::Set, "set")),
        Just((TypeExpr::AnyDict, "dict")),
    ];
    let leaf = names.prop_map(|(t, s)| (t, format!("{WS}{s}{WS}")));
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            (inner.clone(), any::<bool>()).prop_map(|((t, s), lower)| {
                let name = if lower { "list" } else { "List" };
                (TypeExpr::List(Box::new(t)), format!("{name}{WS}[{s}]{WS}"))
            }),
            (inner.clone(), inner.clone(), any::<bool>()).prop_map(|((k, ks), (v, vs), lower)| {
                let name = if lower { "dict" } else { "Dict" };
                (
                    TypeExpr::Dict(Box::new(k), Box::new(v)),
                    format!("{name}[{ks},{vs}]"),
                )
            }),
            (inner.clone(), 0..4u8).prop_map(|((t, s), how)| {
                let text = match how {
                    0 => format!("Optional[{s}]"),
                    1 => format!("{s}|{WS}None{WS}"),
                    2 => format!("{WS}None{WS}|{s}"),
                    _ => format!("Union[{s},{WS}None]"),
                };
                (TypeExpr::Optional(Box::new(t)), text)
            }),
            (prop::collection::vec(inner, 1..4), any::<bool>()).prop_map(|(members, pipe)| {
                let (types, texts): (Vec<_>, Vec<_>) = members.into_iter().unzip();
                let text = if pipe {
                    texts.join("|")
                } else {
                    format!("Union[{}]", texts.join(","))
                };
                (TypeExpr::Union(types), text)
            }),
        ]
    })
}

fn fill_whitespace(template: &str, choices: &[u8]) -> String {
    const SPACES: [&str; 6] = ["", " ", "  ", "\n", "\t", "\r\n "];
    let mut choices = choices.iter().cycle();
    template
        .chars()
        .map(|c| {
            if c == WS {
                SPACES[usize::from(*choices.next().unwrap_or(&0)) % SPACES.len()].to_owned()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Strings made of the grammar's own tokens, to reach deeper into the parser than random text.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("List"),
        Just("list"),
        Just("Dict"),
        Just("dict"),
        Just("Optional"),
        Just("Union"),
        Just("int"),
        Just("str"),
        Just("float"),
        Just("Any"),
        Just("None"),
        Just("set"),
        Just("["),
        Just("]"),
        Just(","),
        Just("|"),
        Just(" "),
        Just("\n"),
        Just("é"),
    ];
    prop::collection::vec(token, 0..24).prop_map(|tokens| tokens.concat())
}

/// The parser's contract for any input: no panic; an error points inside the input at a
/// character boundary; a success prints to a string that parses back to the same type.
fn check_parse_contract(input: &str) -> Result<(), TestCaseError> {
    match TypeExpr::parse(input) {
        Ok(t) => {
            let printed = t.to_string();
            prop_assert_eq!(
                TypeExpr::parse(&printed),
                Ok(t.clone()),
                "printed {}",
                printed
            );
            prop_assert_eq!(t.clone().normalized(), t);
        }
        Err(e) => {
            prop_assert!(e.position <= input.len());
            prop_assert!(input.is_char_boundary(e.position));
            prop_assert_eq!(&e.input, input);
            prop_assert!(!e.to_string().is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn print_then_parse_is_identity_on_normalised_types(t in any_expr()) {
        let t = t.normalized();
        let printed = t.to_string();
        prop_assert_eq!(TypeExpr::parse(&printed), Ok(t.clone()), "printed {}", printed);
        // And printing is a fixed point.
        prop_assert_eq!(TypeExpr::parse(&printed).map(|p| p.to_string()), Ok(printed));
    }

    #[test]
    fn printing_an_unnormalised_type_parses_to_its_normal_form(t in any_expr()) {
        prop_assert_eq!(TypeExpr::parse(&t.to_string()), Ok(t.clone().normalized()));
    }

    #[test]
    fn normalising_is_idempotent(t in any_expr()) {
        let once = t.normalized();
        prop_assert_eq!(once.clone().normalized(), once);
    }

    #[test]
    fn every_spelling_parses_to_the_same_normal_form(
        (t, template) in spelled(),
        ws in prop::collection::vec(any::<u8>(), 1..32),
    ) {
        let input = fill_whitespace(&template, &ws);
        prop_assert_eq!(TypeExpr::parse(&input), Ok(t.normalized()), "input {:?}", input);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_strings(input in any::<String>()) {
        check_parse_contract(&input)?;
    }

    #[test]
    fn parser_never_panics_on_strings_of_grammar_tokens(input in token_soup()) {
        check_parse_contract(&input)?;
    }

    #[test]
    fn schema_parsing_never_panics_on_arbitrary_json_text(input in any::<String>()) {
        let _ = Schema::from_json_str(&input);
    }

    #[test]
    fn spelling_does_not_change_the_fingerprint(
        (t, template) in spelled(),
        ws in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let canonical = Schema::from_pairs([("f", t.normalized().to_string())]);
        let respelled = Schema::from_pairs([("f", fill_whitespace(&template, &ws))]);
        prop_assert!(canonical.is_ok());
        let canonical = canonical.unwrap();
        prop_assert_eq!(respelled.map(|s| s.fingerprint()), Ok(canonical.fingerprint()));
    }
}
