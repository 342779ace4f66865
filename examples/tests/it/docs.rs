//! Every command in the fenced `sh` blocks of README.md and BENCHMARKS.md is one this workspace
//! supports: each `cargo run|test|bench|build|doc -p X` names a package of the workspace, each
//! `--example`, `--bin`, `--bench` and `--test` a target of that package, each `--features` a
//! feature of it (and a bench's required features are enabled), the subcommand after `--` of
//! a CLI exists, every `AICM_*` variable set is one the code reads, and every path into the
//! repository exists. Nothing is run but `cargo metadata`: the commands themselves take long.
//! (The README's Rust blocks are compiled as doctests of `aicm`: `aicm::ReadmeDoctests`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const DOCS: [&str; 2] = ["README.md", "BENCHMARKS.md"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("examples/ has a parent")
        .to_path_buf()
}

/// A workspace package as `cargo metadata` sees it.
struct Package {
    dir: PathBuf,
    features: Vec<String>,
    /// (kind, name) -> required features
    targets: BTreeMap<(String, String), Vec<String>>,
}

fn packages() -> BTreeMap<String, Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut packages = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest_path"));
        let mut targets = BTreeMap::new();
        for t in p["targets"].as_array().expect("targets") {
            let required: Vec<String> = t["required-features"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            for kind in t["kind"].as_array().expect("kind") {
                let kind = kind.as_str().expect("kind is a string").to_owned();
                let name = t["name"].as_str().expect("name").to_owned();
                targets.insert((kind, name), required.clone());
            }
        }
        let features = p["features"]
            .as_object()
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default();
        packages.insert(
            p["name"].as_str().expect("name").to_owned(),
            Package {
                dir: manifest.parent().expect("manifest dir").to_path_buf(),
                features,
                targets,
            },
        );
    }
    packages
}

/// The command lines of the fenced `sh` blocks of `text`, with their line numbers: comments
/// and blank lines dropped, a trailing `# …` comment cut.
fn sh_commands(text: &str) -> Vec<(usize, String)> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut in_other = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            if in_sh || in_other {
                in_sh = false;
                in_other = false;
            } else if matches!(info.trim(), "sh" | "bash" | "shell" | "console") {
                in_sh = true;
            } else {
                in_other = true;
            }
            continue;
        }
        if !in_sh || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let command = match trimmed.find(" #") {
            Some(at) => trimmed[..at].trim_end(),
            None => trimmed,
        };
        commands.push((i + 1, command.to_owned()));
    }
    commands
}

/// The `AICM_*` names the code reads (aicm, the CLIs, the examples and the local API).
fn known_env_names() -> String {
    let mut text = String::new();
    for dir in [
        "aicm/src",
        "aicm-spool/src",
        "aicm-codegen/src",
        "examples",
        "tests/src",
    ] {
        collect_sources(&root().join(dir), &mut text);
    }
    text
}

fn collect_sources(dir: &Path, text: &mut String) {
    for entry in std::fs::read_dir(dir).expect("source dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_sources(&path, text);
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
}

/// `list-failed` -> `ListFailed`: how clap derives a subcommand's name from its variant.
fn variant_name(subcommand: &str) -> String {
    subcommand
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

struct Checker {
    packages: BTreeMap<String, Package>,
    env_names: String,
}

impl Checker {
    /// What is wrong with `command`, if anything.
    fn check(&self, command: &str) -> Result<(), String> {
        let mut words: Vec<&str> = command.split_whitespace().collect();
        while let Some(word) = words.first() {
            let Some((name, _)) = word.split_once('=') else {
                break;
            };
            if !name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                break;
            }
            if name.starts_with("AICM_") && !self.env_names.contains(&format!("\"{name}\"")) {
                return Err(format!("`{name}` is not read anywhere in the code"));
            }
            words.remove(0);
        }
        for word in &words {
            self.check_path(word)?;
        }
        match words.as_slice() {
            ["cargo", rest @ ..] => self.check_cargo(rest),
            ["git", "clone" | "worktree", ..] | ["cd", _] => Ok(()),
            _ => Err("not a command this test knows: teach examples/tests/it/docs.rs".to_owned()),
        }
    }

    /// A word naming a path under a workspace member (`examples/data/x.jsonl`) must exist.
    fn check_path(&self, word: &str) -> Result<(), String> {
        let Some((first, _)) = word.split_once('/') else {
            return Ok(());
        };
        let is_member = self
            .packages
            .values()
            .any(|p| p.dir.file_name().is_some_and(|d| d == first));
        if is_member && !root().join(word).exists() {
            return Err(format!("`{word}` does not exist in the repository"));
        }
        Ok(())
    }

    fn check_cargo(&self, words: &[&str]) -> Result<(), String> {
        let (sub, words) = words.split_first().ok_or("cargo without a subcommand")?;
        if *sub == "install" {
            // cargo install --git <url> <package>: a package of ours with a binary
            let names = words
                .iter()
                .enumerate()
                .filter(|(i, w)| !w.starts_with("--") && (*i == 0 || words[i - 1] != "--git"));
            for (_, name) in names {
                let pkg = self
                    .packages
                    .get(*name)
                    .ok_or(format!("no package `{name}`"))?;
                if !pkg.targets.keys().any(|(kind, _)| kind == "bin") {
                    return Err(format!("`{name}` has no binary to install"));
                }
            }
            return Ok(());
        }
        if !matches!(*sub, "run" | "test" | "bench" | "build" | "doc" | "clippy") {
            return Err(format!("`cargo {sub}` is not a subcommand this test knows"));
        }
        let (ours, passed) = match words.iter().position(|w| *w == "--") {
            Some(at) => (&words[..at], &words[at + 1..]),
            None => (words, &[][..]),
        };
        let mut package = None;
        let mut target: Option<(&str, &str)> = None;
        let mut features: Vec<&str> = Vec::new();
        let mut all_features = false;
        let mut it = ours.iter();
        while let Some(word) = it.next() {
            let mut value = || {
                it.next()
                    .copied()
                    .ok_or(format!("`{word}` without a value"))
            };
            match *word {
                "-p" | "--package" => package = Some(value()?),
                "--example" => target = Some(("example", value()?)),
                "--bin" => target = Some(("bin", value()?)),
                "--bench" => target = Some(("bench", value()?)),
                "--test" => target = Some(("test", value()?)),
                "--features" | "-F" => features.extend(value()?.split(',')),
                "--all-features" => all_features = true,
                "--workspace" | "--doc" | "--no-run" | "--release" | "--no-deps" | "--lib"
                | "--all-targets" => {}
                other => return Err(format!("`{other}` is not a cargo option this test knows")),
            }
        }
        let Some(name) = package else {
            return match (sub, target) {
                (_, Some(_)) => Err("a target without `-p`: name its package".to_owned()),
                _ => Ok(()), // the whole workspace (a virtual manifest)
            };
        };
        let pkg = self
            .packages
            .get(name)
            .ok_or(format!("`{name}` is not a package of the workspace"))?;
        for feature in &features {
            if !pkg.features.iter().any(|f| f == feature) {
                return Err(format!("`{name}` has no feature `{feature}`"));
            }
        }
        let kind_wanted = match (*sub, target) {
            (_, Some((kind, _))) => Some(kind),
            ("run", None) => Some("bin"),
            ("bench", None) => Some("bench"),
            _ => None,
        };
        if let Some(kind) = kind_wanted {
            let of_kind: Vec<(&String, &Vec<String>)> = pkg
                .targets
                .iter()
                .filter(|((k, _), _)| k == kind)
                .map(|((_, n), r)| (n, r))
                .collect();
            let chosen: Vec<_> = match target {
                Some((_, t)) => of_kind
                    .into_iter()
                    .filter(|(n, _)| n.as_str() == t)
                    .collect(),
                None => of_kind,
            };
            if chosen.is_empty() {
                return Err(format!(
                    "`{name}` has no {kind} {}",
                    target.map_or("", |t| t.1)
                ));
            }
            if *sub == "run" && target.is_none() && chosen.len() > 1 {
                return Err(format!(
                    "`{name}` has several binaries: name one with --bin"
                ));
            }
            for (target_name, required) in chosen {
                for feature in required {
                    if !all_features && !features.contains(&feature.as_str()) {
                        return Err(format!(
                            "{kind} `{target_name}` of `{name}` needs `--features {feature}`"
                        ));
                    }
                }
            }
        }
        if *sub == "run" && kind_wanted == Some("bin") {
            self.check_subcommand(pkg, passed)?;
        }
        Ok(())
    }

    /// The first word after `--` that is not an option (or an option's value) is a subcommand
    /// of the CLI: a variant of an enum in its `src/main.rs`.
    fn check_subcommand(&self, pkg: &Package, passed: &[&str]) -> Result<(), String> {
        let main = std::fs::read_to_string(pkg.dir.join("src/main.rs")).unwrap_or_default();
        if !main.contains("Subcommand") {
            return Ok(());
        }
        let mut words = passed.iter();
        while let Some(word) = words.next() {
            if *word == "--help" || *word == "-h" || *word == "--version" {
                return Ok(());
            }
            if word.starts_with("--") {
                if !word.contains('=') {
                    words.next(); // its value
                }
                continue;
            }
            let variant = variant_name(word);
            let declared = main.lines().any(|line| {
                let line = line.trim();
                line.strip_prefix(variant.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '(', '{', ',']))
            });
            return if declared {
                Ok(())
            } else {
                Err(format!(
                    "`{word}` is not a subcommand of {}",
                    pkg.dir.display()
                ))
            };
        }
        Ok(())
    }
}

#[test]
fn every_documented_command_names_what_the_workspace_has() {
    let checker = Checker {
        packages: packages(),
        env_names: known_env_names(),
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(root().join(doc)).expect("doc is readable");
        for (line, command) in sh_commands(&text) {
            checked += 1;
            for part in command.split("&&") {
                if let Err(why) = checker.check(part.trim()) {
                    problems.push(format!("{doc}:{line}: `{command}`: {why}"));
                }
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} commands found: is the extraction broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_refuses_what_the_workspace_lacks() {
    let checker = Checker {
        packages: packages(),
        env_names: known_env_names(),
    };
    for bad in [
        "cargo run -p aicm-examples --example no_such_example",
        "cargo run -p no-such-package",
        "cargo bench -p aicm --bench spool",
        "cargo bench -p aicm --features spool --bench spool",
        "cargo bench -p aicm-tests --bench nope",
        "cargo test -p aicm --features nope",
        "cargo run -p aicm-spool -- --spool x.spool frobnicate",
        "AICM_NOT_A_SETTING=1 cargo test --workspace",
        "cargo run -p aicm-examples --example batch_job -- examples/data/missing.jsonl",
        "make all",
    ] {
        assert!(checker.check(bad).is_err(), "accepted: {bad}");
    }
    for good in [
        "cargo bench -p aicm --features spool,testing --bench spool",
        "cargo run -p aicm-spool -- --spool x.spool list-failed",
        "cargo run -p aicm-codegen -- generate --help",
        "cargo test --workspace",
    ] {
        assert_eq!(checker.check(good), Ok(()), "{good}");
    }
}
