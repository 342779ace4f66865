//! Every form and spelling of the type language parses to the expected expression and prints
//! back in the canonical Python spelling.

use aicm_schema::TypeExpr;
use aicm_schema::TypeExpr::{
    Any, AnyDict, AnyList, Bool, Dict, Float, Int, List, Optional, Set, Str, Tuple, Union,
};

fn list(t: TypeExpr) -> TypeExpr {
    List(Box::new(t))
}
fn dict(k: TypeExpr, v: TypeExpr) -> TypeExpr {
    Dict(Box::new(k), Box::new(v))
}
fn opt(t: TypeExpr) -> TypeExpr {
    Optional(Box::new(t))
}

#[track_caller]
fn parses(input: &str) -> TypeExpr {
    match TypeExpr::parse(input) {
        Ok(t) => t,
        Err(e) => panic!("`{input}` should parse, got: {e}"),
    }
}

/// (input, expected expression, canonical printing)
fn table() -> Vec<(&'static str, TypeExpr, &'static str)> {
    vec![
        // plain names
        ("int", Int, "int"),
        ("float", Float, "float"),
        ("str", Str, "str"),
        ("bool", Bool, "bool"),
        ("list", AnyList, "list"),
        ("dict", AnyDict, "dict"),
        ("tuple", Tuple, "tuple"),
        ("set", Set, "set"),
        ("Any", Any, "Any"),
        // typing generics
        ("List[int]", list(Int), "List[int]"),
        ("Dict[str, int]", dict(Str, Int), "Dict[str, int]"),
        ("Optional[str]", opt(Str), "Optional[str]"),
        ("Union[int, str]", Union(vec![Int, Str]), "Union[int, str]"),
        ("Union[str, int]", Union(vec![Str, Int]), "Union[str, int]"),
        (
            "Union[int, str, float]",
            Union(vec![Int, Str, Float]),
            "Union[int, str, float]",
        ),
        // builtin generics
        ("list[int]", list(Int), "List[int]"),
        ("dict[str, float]", dict(Str, Float), "Dict[str, float]"),
        (
            "list[dict[str, int]]",
            list(dict(Str, Int)),
            "List[Dict[str, int]]",
        ),
        // PEP 604
        ("int | str", Union(vec![Int, Str]), "Union[int, str]"),
        ("int | None", opt(Int), "Optional[int]"),
        ("None | int", opt(Int), "Optional[int]"),
        (
            "int | str | None",
            opt(Union(vec![Int, Str])),
            "Optional[Union[int, str]]",
        ),
        ("list[int] | None", opt(list(Int)), "Optional[List[int]]"),
        // generics of plain containers and Any
        ("List[Any]", list(Any), "List[Any]"),
        ("List[dict]", list(AnyDict), "List[dict]"),
        ("Dict[str, list]", dict(Str, AnyList), "Dict[str, list]"),
        ("Dict[int, str]", dict(Int, Str), "Dict[int, str]"),
        ("List[set]", list(Set), "List[set]"),
        ("List[tuple]", list(Tuple), "List[tuple]"),
        // unions inside generics
        (
            "Dict[str, int | None]",
            dict(Str, opt(Int)),
            "Dict[str, Optional[int]]",
        ),
        (
            "List[Union[int, str]]",
            list(Union(vec![Int, Str])),
            "List[Union[int, str]]",
        ),
        (
            "Optional[Union[int, str]]",
            opt(Union(vec![Int, Str])),
            "Optional[Union[int, str]]",
        ),
        // the sample configs' types
        (
            "Optional[List[float]]",
            opt(list(Float)),
            "Optional[List[float]]",
        ),
        (
            "List[Dict[str, int]]",
            list(dict(Str, Int)),
            "List[Dict[str, int]]",
        ),
        (
            "Dict[str, List[str]]",
            dict(Str, list(Str)),
            "Dict[str, List[str]]",
        ),
    ]
}

#[test]
fn every_form_and_spelling_parses_and_prints_canonically() {
    for (input, expected, printed) in table() {
        let got = parses(input);
        assert_eq!(got, expected, "parsing `{input}`");
        assert_eq!(got.to_string(), printed, "printing `{input}`");
        assert_eq!(parses(printed), got, "re-parsing `{printed}`");
        assert_eq!(
            input.parse::<TypeExpr>().as_ref(),
            Ok(&got),
            "FromStr `{input}`"
        );
    }
}

#[test]
fn whitespace_is_free_everywhere() {
    let cases = [
        ("  int  ", Int),
        ("\tint\n", Int),
        ("List [ int ]", list(Int)),
        ("List[\n    int\n]", list(Int)),
        ("Dict[str,int]", dict(Str, Int)),
        ("Dict[\tstr ,\n\tint\t]", dict(Str, Int)),
        (
            "Dict[\r\n  str,\r\n  List[ Optional[ float ] ]\r\n]",
            dict(Str, list(opt(Float))),
        ),
        ("int|None", opt(Int)),
        ("int\n|\nNone", opt(Int)),
        ("Union[ int ,str ]", Union(vec![Int, Str])),
        ("Optional [ \t str ]", opt(Str)),
        // Unicode whitespace too (NBSP, ideographic space).
        ("\u{a0}int\u{3000}", Int),
    ];
    for (input, expected) in cases {
        assert_eq!(parses(input), expected, "parsing {input:?}");
    }
}

#[test]
fn nesting_to_depth_parses_and_prints() {
    let mut input = String::from("int");
    let mut expected = Int;
    for depth in 1..=40 {
        input = match depth % 4 {
            0 => format!("List[{input}]"),
            1 => format!("Dict[str, {input}]"),
            2 => format!("list[{input}] | None"),
            _ => format!("Union[{input}, str]"),
        };
        expected = match depth % 4 {
            0 => list(expected),
            1 => dict(Str, expected),
            2 => opt(list(expected)),
            _ => match expected {
                // `Union[Optional[X], str]` is `Optional[Union[X, str]]`.
                Optional(inner) => opt(Union(vec![*inner, Str])),
                other => Union(vec![other, Str]),
            },
        };
        let got = parses(&input);
        assert_eq!(got, expected, "depth {depth}: `{input}`");
        assert_eq!(parses(&got.to_string()), got, "depth {depth} round trip");
    }
}

#[test]
fn deepest_allowed_nesting_parses() {
    let depth = aicm_schema::MAX_DEPTH;
    let input = format!("{}int{}", "List[".repeat(depth), "]".repeat(depth));
    let mut expected = Int;
    for _ in 0..depth {
        expected = list(expected);
    }
    assert_eq!(parses(&input), expected);
    assert_eq!(expected.to_string(), input);
}

#[test]
fn union_int_none_equals_optional_int_equals_pipe_none() {
    let spellings = [
        "Optional[int]",
        "Union[int, None]",
        "Union[None, int]",
        "int | None",
        "None | int",
        "Optional[Optional[int]]",
        "Optional[int] | None",
        "Optional[int | None]",
        "Union[int, None, None]",
        "Union[Optional[int], int]",
        "Union[int]  |  None",
        "Union[None] | int",
        "Union[int, Union[None]]",
    ];
    for s in spellings {
        assert_eq!(parses(s), opt(Int), "`{s}`");
        assert_eq!(parses(s).to_string(), "Optional[int]", "`{s}`");
    }
}

#[test]
fn nested_unions_flatten_and_duplicates_go_first_occurrence_kept() {
    // Parentheses are not part of the language.
    assert!(TypeExpr::parse("int | (str)").is_err());
    let cases = [
        (
            "Union[int, Union[str, float]]",
            Union(vec![Int, Str, Float]),
        ),
        (
            "Union[Union[int, str], float]",
            Union(vec![Int, Str, Float]),
        ),
        (
            "int | Union[str, float | bool]",
            Union(vec![Int, Str, Float, Bool]),
        ),
        ("int | str | int", Union(vec![Int, Str])),
        ("Union[int, int]", Int),
        ("Union[int, str, int, str]", Union(vec![Int, Str])),
        ("Union[str, Union[int, str]]", Union(vec![Str, Int])),
        ("Union[int]", Int),
        ("int | int", Int),
        ("Union[List[int], list[int]]", list(Int)),
        ("Union[Dict[str, int], dict[str, int]]", dict(Str, Int)),
        ("Union[int, Union[str, None]]", opt(Union(vec![Int, Str]))),
        ("Union[int | None, str | None]", opt(Union(vec![Int, Str]))),
        ("Union[Union[Union[int]]]", Int),
    ];
    for (s, expected) in cases {
        assert_eq!(parses(s), expected, "`{s}`");
    }
}

#[test]
fn optional_optional_collapses() {
    assert_eq!(parses("Optional[Optional[int]]"), opt(Int));
    assert_eq!(parses("Optional[Optional[Optional[str]]]"), opt(Str));
    assert_eq!(TypeExpr::optional(opt(Int)), opt(Int));
}

/// Python keeps `Optional[Any]` as written, and so do we: unlike `Any`, it lets the field be
/// absent.
#[test]
fn optional_any_is_kept_and_differs_from_any() {
    assert_eq!(parses("Optional[Any]"), opt(Any));
    assert_eq!(parses("Any | None"), opt(Any));
    assert_eq!(parses("Union[Any, None]"), opt(Any));
    assert_eq!(parses("Optional[Any]").to_string(), "Optional[Any]");
    assert!(parses("Optional[Any]").is_optional());
    assert!(!parses("Any").is_optional());
    assert_ne!(parses("Optional[Any]"), parses("Any"));
}

/// A deliberate simplification of Python's `typing`: `Any` absorbs the other union members.
#[test]
fn any_absorbs_union_members_python_keeps_them() {
    assert_eq!(parses("Union[int, Any]"), Any);
    assert_eq!(parses("int | Any | str"), Any);
    assert_eq!(parses("Union[int, Any, None]"), opt(Any));
    assert_eq!(parses("Optional[int] | Any"), opt(Any));
}

#[test]
fn helpers_answer_about_the_normalised_type() {
    let t = parses("int | None");
    assert!(t.is_optional());
    assert_eq!(t.strip_optional(), &Int);
    assert_eq!(parses("int").strip_optional(), &Int);
    assert!(!parses("Union[int, str]").is_optional());

    assert!(parses("float").mentions_float());
    assert!(parses("Optional[List[Dict[str, float]]]").mentions_float());
    assert!(parses("Union[int, float]").mentions_float());
    assert!(parses("Dict[float, int]").mentions_float());
    assert!(!parses("List[Dict[str, int]]").mentions_float());
    assert!(!parses("Any").mentions_float());
}

#[test]
fn union_constructors_normalise() {
    assert_eq!(TypeExpr::union(Vec::new()), None);
    assert_eq!(TypeExpr::union([Int]), Some(Int));
    assert_eq!(TypeExpr::union([Int, Int]), Some(Int));
    assert_eq!(
        TypeExpr::union([Int, Union(vec![Str, Float])]),
        Some(Union(vec![Int, Str, Float]))
    );
    assert_eq!(TypeExpr::union_with_none([Int], true), Some(opt(Int)));
    assert_eq!(TypeExpr::union_with_none(Vec::new(), true), None);
    assert_eq!(
        TypeExpr::union([opt(Int), Str]),
        Some(opt(Union(vec![Int, Str])))
    );
    // Hand-built, unnormalised members come out flat.
    assert_eq!(
        TypeExpr::union([Union(vec![opt(opt(Int)), Union(vec![Str, Any])])]),
        Some(opt(Any))
    );
}

#[test]
fn normalized_repairs_hand_built_expressions() {
    let cases = [
        (opt(opt(Int)), opt(Int)),
        (Union(vec![Int]), Int),
        (Union(vec![Int, Int, opt(Str)]), opt(Union(vec![Int, Str]))),
        (list(Union(vec![Str])), list(Str)),
        (dict(Union(vec![Str]), opt(opt(Int))), dict(Str, opt(Int))),
        (Union(vec![]), Union(vec![])),
        (opt(Any), opt(Any)),
    ];
    for (input, expected) in cases {
        assert_eq!(input.clone().normalized(), expected, "{input:?}");
    }
}

#[test]
fn parsed_expressions_are_already_normalised() {
    for (input, _, _) in table() {
        let t = parses(input);
        assert_eq!(t.clone().normalized(), t, "`{input}`");
    }
}
