//! A recursive-descent parser for type strings, with errors that point at a position.

use std::fmt;
use std::str::FromStr;

use crate::TypeExpr;

/// A type string that is not part of the language, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at position {position} in `{input}`")]
pub struct ParseError {
    /// The whole type string that failed to parse.
    pub input: String,
    /// Byte offset (0-based) into `input` where the problem was found.
    pub position: usize,
    /// What was wrong there.
    pub kind: ParseErrorKind,
}

/// What a [`ParseError`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The string (or a bracket) held nothing where a type was expected.
    ExpectedType {
        /// What stood there instead (`end of input`, `]`, ...).
        found: String,
    },
    /// A name that is not a type of the language.
    UnknownName(String),
    /// Some punctuation was expected and something else stood there.
    Expected {
        /// What the parser wanted, e.g. `` `]` `` or `` `,` or `]` ``.
        expected: &'static str,
        /// What stood there instead.
        found: String,
    },
    /// A generic got the wrong number of type arguments.
    WrongArity {
        /// The generic's name as written.
        name: String,
        /// How many it takes, in words ("1", "2", "at least 1").
        expected: &'static str,
        /// How many it got.
        found: usize,
    },
    /// A plain type was given type arguments (`int[str]`).
    NotGeneric(String),
    /// A generic was used without its type arguments (`List`).
    MissingArguments(String),
    /// `None` outside a union (`None`, `Optional[None]`, `List[None]`).
    BareNone,
    /// Input continued after a complete type.
    TrailingInput(String),
    /// Brackets nested deeper than [`MAX_DEPTH`], which no real schema needs; refusing them
    /// keeps a hostile string from exhausting the stack.
    TooDeep {
        /// The deepest nesting accepted.
        limit: usize,
    },
}

/// How deeply brackets may nest in a type string (`List[List[int]]` is depth 2).
pub const MAX_DEPTH: usize = 64;

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::ExpectedType { found } => write!(f, "expected a type, found {found}"),
            ParseErrorKind::UnknownName(name) => write!(
                f,
                "unknown type name `{name}` (expected one of int, float, str, bool, list, dict, \
                 tuple, set, Any, List, Dict, Optional, Union)"
            ),
            ParseErrorKind::Expected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ParseErrorKind::WrongArity {
                name,
                expected,
                found,
            } => write!(
                f,
                "`{name}` takes {expected} type argument{}, found {found}",
                if expected.ends_with(" 1") || *expected == "1" {
                    ""
                } else {
                    "s"
                }
            ),
            ParseErrorKind::NotGeneric(name) => write!(f, "`{name}` takes no type arguments"),
            ParseErrorKind::MissingArguments(name) => {
                write!(
                    f,
                    "`{name}` needs type arguments in brackets, e.g. `{name}[...]`"
                )
            }
            ParseErrorKind::BareNone => {
                f.write_str("`None` is only allowed as a member of a union (`T | None`)")
            }
            ParseErrorKind::TrailingInput(rest) => {
                write!(f, "unexpected `{rest}` after a complete type")
            }
            ParseErrorKind::TooDeep { limit } => {
                write!(f, "brackets nested deeper than {limit} levels")
            }
        }
    }
}

impl FromStr for TypeExpr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TypeExpr::parse(s)
    }
}

impl TypeExpr {
    /// Parses a type string such as `Dict[str, List[int]]` or `int | None`.
    pub fn parse(input: &str) -> Result<TypeExpr, ParseError> {
        let mut parser = Parser {
            input,
            pos: 0,
            depth: 0,
        };
        let result = parser.parse_complete();
        result.map_err(|(position, kind)| ParseError {
            input: input.to_owned(),
            position,
            kind,
        })
    }
}

/// A parsed item that may still be the bare `None`, which only a union may hold.
enum Item {
    Type(TypeExpr),
    None,
}

type PResult<T> = Result<T, (usize, ParseErrorKind)>;

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    /// How many `[` are open at `pos`.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn parse_complete(&mut self) -> PResult<TypeExpr> {
        let start = self.skip_ws();
        let ty = self.parse_type_at(start)?;
        let end = self.skip_ws();
        if end < self.input.len() {
            return Err((
                end,
                ParseErrorKind::TrailingInput(self.input[end..].to_owned()),
            ));
        }
        Ok(ty)
    }

    /// A full type (a union by `|` included) in a position where bare `None` is an error.
    fn parse_type_at(&mut self, start: usize) -> PResult<TypeExpr> {
        match self.parse_alternatives()? {
            Item::Type(t) => Ok(t),
            Item::None => Err((start, ParseErrorKind::BareNone)),
        }
    }

    /// `primary ('|' primary)*`
    fn parse_alternatives(&mut self) -> PResult<Item> {
        let first = self.parse_primary()?;
        if self.peek() != Some('|') {
            return Ok(first);
        }
        let mut members = Vec::new();
        let mut has_none = false;
        let mut add = |item: Item, members: &mut Vec<TypeExpr>| match item {
            Item::Type(t) => members.push(t),
            Item::None => has_none = true,
        };
        add(first, &mut members);
        while self.peek() == Some('|') {
            self.bump(1);
            let item = self.parse_primary()?;
            add(item, &mut members);
        }
        Ok(match TypeExpr::union_with_none(members, has_none) {
            Some(t) => Item::Type(t),
            None => Item::None,
        })
    }

    /// `NAME ('[' type (',' type)* ']')?`
    fn parse_primary(&mut self) -> PResult<Item> {
        let start = self.skip_ws();
        let name = self.take_name();
        if name.is_empty() {
            return Err((
                start,
                ParseErrorKind::ExpectedType {
                    found: self.describe_here(),
                },
            ));
        }
        let after_name = self.skip_ws();
        let has_args = self.peek() == Some('[');
        let plain = match name {
            "int" => Some(TypeExpr::Int),
            "float" => Some(TypeExpr::Float),
            "str" => Some(TypeExpr::Str),
            "bool" => Some(TypeExpr::Bool),
            "tuple" => Some(TypeExpr::Tuple),
            "set" => Some(TypeExpr::Set),
            "Any" => Some(TypeExpr::Any),
            "None" => None,
            "list" | "dict" | "List" | "Dict" | "Optional" | "Union" => None,
            _ => return Err((start, ParseErrorKind::UnknownName(name.to_owned()))),
        };
        if !has_args {
            return match (name, plain) {
                ("None", _) => Ok(Item::None),
                ("list", _) => Ok(Item::Type(TypeExpr::AnyList)),
                ("dict", _) => Ok(Item::Type(TypeExpr::AnyDict)),
                (_, Some(t)) => Ok(Item::Type(t)),
                (_, None) => Err((start, ParseErrorKind::MissingArguments(name.to_owned()))),
            };
        }
        if plain.is_some() || name == "None" {
            return Err((after_name, ParseErrorKind::NotGeneric(name.to_owned())));
        }
        if self.depth >= MAX_DEPTH {
            return Err((after_name, ParseErrorKind::TooDeep { limit: MAX_DEPTH }));
        }
        self.bump(1); // '['
        self.depth += 1;
        let args = self.parse_args()?;
        self.depth -= 1;
        let arity = |expected: &'static str, ok: bool| -> PResult<()> {
            if ok {
                Ok(())
            } else {
                Err((
                    start,
                    ParseErrorKind::WrongArity {
                        name: name.to_owned(),
                        expected,
                        found: args.len(),
                    },
                ))
            }
        };
        match name {
            "list" | "List" => {
                arity("1", args.len() == 1)?;
                let mut args = args.into_iter();
                let elem = Self::no_none(args.next())?;
                Ok(Item::Type(TypeExpr::List(Box::new(elem))))
            }
            "dict" | "Dict" => {
                arity("2", args.len() == 2)?;
                let mut args = args.into_iter();
                let key = Self::no_none(args.next())?;
                let value = Self::no_none(args.next())?;
                Ok(Item::Type(TypeExpr::Dict(Box::new(key), Box::new(value))))
            }
            "Optional" => {
                arity("1", args.len() == 1)?;
                let inner = Self::no_none(args.into_iter().next())?;
                Ok(Item::Type(TypeExpr::optional(inner)))
            }
            _ => {
                // Union
                arity("at least 1", !args.is_empty())?;
                let mut has_none = false;
                let mut members = Vec::with_capacity(args.len());
                for (_, item) in args {
                    match item {
                        Item::Type(t) => members.push(t),
                        Item::None => has_none = true,
                    }
                }
                match TypeExpr::union_with_none(members, has_none) {
                    Some(t) => Ok(Item::Type(t)),
                    // Every member was `None`: this is `None` itself, which only a union may
                    // hold (`Union[None] | int`); the caller decides.
                    None => Ok(Item::None),
                }
            }
        }
    }

    /// An argument that must be a type, not `None`. `arg` is always `Some` (arity was checked);
    /// `None` is reported as a missing type rather than panicking.
    fn no_none(arg: Option<(usize, Item)>) -> PResult<TypeExpr> {
        match arg {
            Some((_, Item::Type(t))) => Ok(t),
            Some((pos, Item::None)) => Err((pos, ParseErrorKind::BareNone)),
            None => Err((
                0,
                ParseErrorKind::ExpectedType {
                    found: "nothing".to_owned(),
                },
            )),
        }
    }

    /// Arguments after `[` up to and including the closing `]`. Each comes with its start.
    fn parse_args(&mut self) -> PResult<Vec<(usize, Item)>> {
        let mut args = Vec::new();
        loop {
            let start = self.skip_ws();
            if self.peek() == Some(']') && args.is_empty() {
                self.bump(1);
                return Ok(args);
            }
            let item = self.parse_alternatives()?;
            args.push((start, item));
            let here = self.skip_ws();
            match self.peek() {
                Some(',') => self.bump(1),
                Some(']') => {
                    self.bump(1);
                    return Ok(args);
                }
                _ => {
                    return Err((
                        here,
                        ParseErrorKind::Expected {
                            expected: "`,` or `]`",
                            found: self.describe_here(),
                        },
                    ));
                }
            }
        }
    }

    fn skip_ws(&mut self) -> usize {
        let rest = &self.input[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
        self.pos
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.input[self.pos..].chars().next()
    }

    fn bump(&mut self, bytes: usize) {
        self.pos += bytes;
    }

    fn take_name(&mut self) -> &'a str {
        let rest: &'a str = &self.input[self.pos..];
        let len = rest
            .char_indices()
            .find(|&(_, c)| !is_name_char(c))
            .map_or(rest.len(), |(i, _)| i);
        self.pos += len;
        &rest[..len]
    }

    /// What stands at `pos`, for "found ..." in messages: a whole name, else one character.
    fn describe_here(&self) -> String {
        let rest = &self.input[self.pos..];
        let name_len = rest
            .char_indices()
            .find(|&(_, c)| !is_name_char(c))
            .map_or(rest.len(), |(i, _)| i);
        match rest.chars().next() {
            None => "end of input".to_owned(),
            Some(_) if name_len > 0 => format!("`{}`", &rest[..name_len]),
            Some(c) => format!("`{c}`"),
        }
    }
}

/// Characters of a name. `.` is included so that `typing.List` is reported as one unknown name
/// rather than as `typing` followed by stray input.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}
