//! Malformed type strings: the kind of error, its byte position and its exact message.

use aicm_schema::{MAX_DEPTH, ParseError, ParseErrorKind, TypeExpr};

#[track_caller]
fn fails(input: &str) -> ParseError {
    match TypeExpr::parse(input) {
        Ok(t) => panic!("`{input}` should not parse, got {t:?}"),
        Err(e) => {
            assert_eq!(e.input, input, "the error keeps the whole input");
            e
        }
    }
}

const UNKNOWN: &str = "(expected one of int, float, str, bool, list, dict, tuple, set, Any, \
                       List, Dict, Optional, Union)";

/// (input, byte position, message of the kind)
fn table() -> Vec<(&'static str, usize, String)> {
    let s = |m: &str| m.to_owned();
    vec![
        // empty
        ("", 0, s("expected a type, found end of input")),
        ("   ", 3, s("expected a type, found end of input")),
        ("\n\t", 2, s("expected a type, found end of input")),
        // unknown names
        (
            "integer",
            0,
            format!("unknown type name `integer` {UNKNOWN}"),
        ),
        (
            "List[integer]",
            5,
            format!("unknown type name `integer` {UNKNOWN}"),
        ),
        (
            "Dict[str, Int]",
            10,
            format!("unknown type name `Int` {UNKNOWN}"),
        ),
        (
            "string | None",
            0,
            format!("unknown type name `string` {UNKNOWN}"),
        ),
        (
            "int | NoneType",
            6,
            format!("unknown type name `NoneType` {UNKNOWN}"),
        ),
        (
            "typing.List[int]",
            0,
            format!("unknown type name `typing.List` {UNKNOWN}"),
        ),
        ("  Str", 2, format!("unknown type name `Str` {UNKNOWN}")),
        // byte positions: `é` is two bytes
        ("List[é]", 5, format!("unknown type name `é` {UNKNOWN}")),
        (
            "\u{a0}List[intt]",
            7,
            format!("unknown type name `intt` {UNKNOWN}"),
        ),
        // unbalanced brackets: too few closing
        ("List[int", 8, s("expected `,` or `]`, found end of input")),
        (
            "Dict[str, List[int]",
            19,
            s("expected `,` or `]`, found end of input"),
        ),
        ("List[", 5, s("expected a type, found end of input")),
        (
            "Optional[List[int]",
            18,
            s("expected `,` or `]`, found end of input"),
        ),
        // unbalanced brackets: too many closing
        ("List[int]]", 9, s("unexpected `]` after a complete type")),
        ("int]", 3, s("unexpected `]` after a complete type")),
        ("]", 0, s("expected a type, found `]`")),
        ("[int]", 0, s("expected a type, found `[`")),
        // empty union and empty brackets
        (
            "Union[]",
            0,
            s("`Union` takes at least 1 type argument, found 0"),
        ),
        (
            "Union[ ]",
            0,
            s("`Union` takes at least 1 type argument, found 0"),
        ),
        ("List[]", 0, s("`List` takes 1 type argument, found 0")),
        ("Dict[]", 0, s("`Dict` takes 2 type arguments, found 0")),
        // None outside a union
        (
            "None",
            0,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "  None  ",
            2,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "None | None",
            0,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "Optional[None]",
            9,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "Union[None]",
            0,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "Union[None, None]",
            0,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "List[None]",
            5,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "Dict[str, None]",
            10,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "Dict[None, int]",
            5,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "List[None | None]",
            5,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        (
            "List[Union[None]]",
            5,
            s("`None` is only allowed as a member of a union (`T | None`)"),
        ),
        // trailing input
        ("int str", 4, s("unexpected `str` after a complete type")),
        ("int, str", 3, s("unexpected `, str` after a complete type")),
        ("List[int] x", 10, s("unexpected `x` after a complete type")),
        // wrong arity
        (
            "Optional[int, str]",
            0,
            s("`Optional` takes 1 type argument, found 2"),
        ),
        (
            "List[int, str]",
            0,
            s("`List` takes 1 type argument, found 2"),
        ),
        (
            "list[int, str]",
            0,
            s("`list` takes 1 type argument, found 2"),
        ),
        ("Dict[str]", 0, s("`Dict` takes 2 type arguments, found 1")),
        (
            "dict[str, int, float]",
            0,
            s("`dict` takes 2 type arguments, found 3"),
        ),
        (
            "List[Dict[str]]",
            5,
            s("`Dict` takes 2 type arguments, found 1"),
        ),
        // arguments to a plain type
        ("int[str]", 3, s("`int` takes no type arguments")),
        ("str [int]", 4, s("`str` takes no type arguments")),
        ("Any[int]", 3, s("`Any` takes no type arguments")),
        ("set[int]", 3, s("`set` takes no type arguments")),
        ("tuple[int, str]", 5, s("`tuple` takes no type arguments")),
        ("None[int]", 4, s("`None` takes no type arguments")),
        ("List[float[int]]", 10, s("`float` takes no type arguments")),
        // a generic without arguments
        (
            "List",
            0,
            s("`List` needs type arguments in brackets, e.g. `List[...]`"),
        ),
        (
            "Dict",
            0,
            s("`Dict` needs type arguments in brackets, e.g. `Dict[...]`"),
        ),
        (
            "Optional",
            0,
            s("`Optional` needs type arguments in brackets, e.g. `Optional[...]`"),
        ),
        (
            "Union",
            0,
            s("`Union` needs type arguments in brackets, e.g. `Union[...]`"),
        ),
        (
            "List[Optional]",
            5,
            s("`Optional` needs type arguments in brackets, e.g. `Optional[...]`"),
        ),
        (
            "int | Union",
            6,
            s("`Union` needs type arguments in brackets, e.g. `Union[...]`"),
        ),
        // stray `|`
        ("|int", 0, s("expected a type, found `|`")),
        ("int |", 5, s("expected a type, found end of input")),
        ("int | | str", 6, s("expected a type, found `|`")),
        ("List[int |]", 10, s("expected a type, found `]`")),
        // commas
        ("List[int,]", 9, s("expected a type, found `]`")),
        ("Dict[str int]", 9, s("expected `,` or `]`, found `int`")),
        ("Dict[, int]", 5, s("expected a type, found `,`")),
        ("Dict[str,, int]", 9, s("expected a type, found `,`")),
        // other punctuation
        (
            "List<int>",
            0,
            s("`List` needs type arguments in brackets, e.g. `List[...]`"),
        ),
        ("int | (str)", 6, s("expected a type, found `(`")),
        ("'int'", 0, s("expected a type, found `'`")),
    ]
}

#[test]
fn malformed_strings_report_position_and_what_was_expected() {
    let mut failures = Vec::new();
    for (input, position, message) in table() {
        let err = fails(input);
        let got = err.kind.to_string();
        if err.position != position || got != message {
            failures.push(format!(
                "{input:?}: got position {} `{got}`, want position {position} `{message}`",
                err.position
            ));
        }
        assert!(
            input.is_char_boundary(err.position) && err.position <= input.len(),
            "{input:?}: position {} is not a char boundary",
            err.position
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_full_message_names_kind_position_and_input() {
    let err = fails("Dict[str, Lisst[int]]");
    assert_eq!(
        err.to_string(),
        format!("unknown type name `Lisst` {UNKNOWN} at position 10 in `Dict[str, Lisst[int]]`")
    );
    assert_eq!(err.kind, ParseErrorKind::UnknownName("Lisst".to_owned()));

    let err = fails("List[int");
    assert_eq!(
        err.to_string(),
        "expected `,` or `]`, found end of input at position 8 in `List[int`"
    );
}

#[test]
fn error_kinds_are_structured() {
    assert_eq!(fails("None").kind, ParseErrorKind::BareNone);
    assert_eq!(
        fails("int[str]").kind,
        ParseErrorKind::NotGeneric("int".to_owned())
    );
    assert_eq!(
        fails("List").kind,
        ParseErrorKind::MissingArguments("List".to_owned())
    );
    assert_eq!(
        fails("int]").kind,
        ParseErrorKind::TrailingInput("]".to_owned())
    );
    assert_eq!(
        fails("").kind,
        ParseErrorKind::ExpectedType {
            found: "end of input".to_owned()
        }
    );
    assert_eq!(
        fails("Union[]").kind,
        ParseErrorKind::WrongArity {
            name: "Union".to_owned(),
            expected: "at least 1",
            found: 0
        }
    );
    assert_eq!(
        fails("List[int").kind,
        ParseErrorKind::Expected {
            expected: "`,` or `]`",
            found: "end of input".to_owned()
        }
    );
}

#[test]
fn nesting_past_the_limit_is_an_error_not_a_stack_overflow() {
    let depth = MAX_DEPTH + 1;
    let input = format!("{}int{}", "List[".repeat(depth), "]".repeat(depth));
    let err = fails(&input);
    assert_eq!(err.kind, ParseErrorKind::TooDeep { limit: MAX_DEPTH });
    // The `[` that opens level MAX_DEPTH + 1.
    assert_eq!(err.position, MAX_DEPTH * 5 + 4);
    assert_eq!(
        err.kind.to_string(),
        format!("brackets nested deeper than {MAX_DEPTH} levels")
    );

    // Far deeper, and unclosed: still an error, found quickly.
    let hostile = "List[".repeat(1_000_000);
    assert_eq!(
        fails(&hostile).kind,
        ParseErrorKind::TooDeep { limit: MAX_DEPTH }
    );
    let hostile = "Union[int, ".repeat(100_000);
    assert_eq!(
        fails(&hostile).kind,
        ParseErrorKind::TooDeep { limit: MAX_DEPTH }
    );
}

#[test]
fn long_flat_unions_are_fine() {
    let input = vec!["int"; 10_000].join(" | ");
    assert_eq!(TypeExpr::parse(&input), Ok(TypeExpr::Int));
    let input = format!("Union[{}]", vec!["str"; 10_000].join(", "));
    assert_eq!(TypeExpr::parse(&input), Ok(TypeExpr::Str));
}
