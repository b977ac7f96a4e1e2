//! The environment registry: `make("CartPole-v1")`, versioned ids and typed keyword options.
//!
//! Ids have the form `Name-vN`. An id without a version resolves to the newest registered
//! version. Every spec declares the options it accepts (name, type, default, doc); an option the
//! spec does not declare, or a value of the wrong type, is an error that names it. Every
//! environment also accepts `max_episode_steps` (0 disables the time limit), which wraps it in
//! [`crate::wrappers::TimeLimit`] like Gymnasium's `make`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use crate::env::Env;
use crate::wrappers::TimeLimit;

/// Type of an environment option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// `true` / `false`.
    Bool,
    /// Signed integer.
    Int,
    /// Floating point.
    Float,
    /// Free text.
    Str,
}

impl fmt::Display for OptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptionKind::Bool => "bool",
            OptionKind::Int => "int",
            OptionKind::Float => "float",
            OptionKind::Str => "string",
        })
    }
}

/// A typed option value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum OptionValue {
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Text.
    Str(String),
}

impl OptionValue {
    /// The kind of this value.
    pub fn kind(&self) -> OptionKind {
        match self {
            OptionValue::Bool(_) => OptionKind::Bool,
            OptionValue::Int(_) => OptionKind::Int,
            OptionValue::Float(_) => OptionKind::Float,
            OptionValue::Str(_) => OptionKind::Str,
        }
    }

    /// Parses `text` as a value of `kind`. Integers are accepted where floats are expected.
    pub fn parse(kind: OptionKind, text: &str) -> Option<OptionValue> {
        let t = text.trim();
        match kind {
            OptionKind::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(OptionValue::Bool(true)),
                "false" | "0" | "no" => Some(OptionValue::Bool(false)),
                _ => None,
            },
            OptionKind::Int => t.parse().ok().map(OptionValue::Int),
            OptionKind::Float => t.parse::<f64>().ok().filter(|x| x.is_finite()).map(OptionValue::Float),
            OptionKind::Str => Some(OptionValue::Str(text.to_string())),
        }
    }

    /// Coerces to `kind` (an `Int` becomes a `Float` where a float is expected).
    fn coerce(self, kind: OptionKind) -> Option<OptionValue> {
        match (self, kind) {
            (OptionValue::Int(i), OptionKind::Float) => Some(OptionValue::Float(i as f64)),
            (v, k) if v.kind() == k => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Int(i) => write!(f, "{i}"),
            OptionValue::Float(x) => write!(f, "{x}"),
            OptionValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// Declaration of one option an environment accepts.
#[derive(Debug, Clone)]
pub struct OptionSpec {
    /// Option name (snake_case, as Gymnasium's keyword).
    pub name: &'static str,
    /// Default value; its kind is the option's type.
    pub default: OptionValue,
    /// One line for `alignrl envs` and `--help`.
    pub doc: &'static str,
}

/// Resolved options handed to an environment's constructor: every declared option is present.
#[derive(Debug, Clone, Default)]
pub struct Options {
    values: BTreeMap<&'static str, OptionValue>,
}

impl Options {
    /// The value of a declared option.
    ///
    /// # Panics
    /// If `name` was not declared by the spec (a programming error in the constructor).
    pub fn get(&self, name: &str) -> &OptionValue {
        self.values.get(name).unwrap_or_else(|| panic!("option {name:?} was not declared in the env spec"))
    }
    /// A declared bool option.
    pub fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            OptionValue::Bool(b) => *b,
            v => panic!("option {name:?} is {v:?}, declared as bool"),
        }
    }
    /// A declared int option.
    pub fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            OptionValue::Int(i) => *i,
            v => panic!("option {name:?} is {v:?}, declared as int"),
        }
    }
    /// A declared float option.
    pub fn float(&self, name: &str) -> f64 {
        match self.get(name) {
            OptionValue::Float(x) => *x,
            v => panic!("option {name:?} is {v:?}, declared as float"),
        }
    }
    /// A declared string option.
    pub fn str(&self, name: &str) -> &str {
        match self.get(name) {
            OptionValue::Str(s) => s,
            v => panic!("option {name:?} is {v:?}, declared as string"),
        }
    }
    /// All resolved options.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &OptionValue)> {
        self.values.iter().map(|(k, v)| (*k, v))
    }
}

/// Builds an unwrapped environment from resolved options.
pub type EntryPoint = fn(&Options) -> Result<Box<dyn Env>, MakeError>;

/// A registered environment.
#[derive(Debug, Clone)]
pub struct EnvSpec {
    /// Versioned id, `Name-vN`.
    pub id: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Default time limit (Gymnasium's `max_episode_steps`), applied by [`TimeLimit`].
    pub max_episode_steps: Option<u64>,
    /// Return at which the task counts as solved, if defined.
    pub reward_threshold: Option<f64>,
    /// Options the constructor accepts.
    pub options: Vec<OptionSpec>,
    /// Constructor.
    pub entry_point: EntryPoint,
}

/// Errors of [`make`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MakeError {
    /// No environment with this name.
    #[error("unknown environment id {id:?}{}", suggest(suggestions))]
    UnknownId {
        /// The id asked for.
        id: String,
        /// Close matches.
        suggestions: Vec<String>,
    },
    /// The name exists but not in this version.
    #[error("environment {id:?} does not exist in this version; available: {}", available.join(", "))]
    UnknownVersion {
        /// The id asked for.
        id: String,
        /// Registered versions of the same name.
        available: Vec<String>,
    },
    /// An option the environment does not declare.
    #[error("{env} has no option {option:?}{}; it accepts: {}", suggest(suggestions), accepted.join(", "))]
    UnknownOption {
        /// Environment id.
        env: String,
        /// The option given.
        option: String,
        /// Close matches.
        suggestions: Vec<String>,
        /// All accepted options.
        accepted: Vec<String>,
    },
    /// An option value of the wrong type or out of range.
    #[error("{env}: option {option:?} = {value} is invalid: expected {expected}")]
    BadOption {
        /// Environment id.
        env: String,
        /// The option.
        option: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A malformed id (not `Name` or `Name-vN`).
    #[error("malformed environment id {0:?}: expected Name-vN, e.g. CartPole-v1")]
    MalformedId(String),
    /// Registering an id twice.
    #[error("environment id {0:?} is already registered")]
    Duplicate(String),
}

fn suggest(s: &[String]) -> String {
    if s.is_empty() { String::new() } else { format!(" (did you mean {}?)", s.join(", ")) }
}

/// A set of environment specs.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    specs: Vec<EnvSpec>,
}

/// The id of the time-limit option every environment accepts.
pub const MAX_EPISODE_STEPS: &str = "max_episode_steps";

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// The registry of every built-in environment.
    pub fn builtin() -> &'static Registry {
        static REG: OnceLock<Registry> = OnceLock::new();
        REG.get_or_init(|| {
            let mut r = Registry::new();
            crate::classic::register(&mut r);
            crate::tabular::register(&mut r);
            crate::robotics::manip::register(&mut r);
            crate::robotics::control::register(&mut r);
            r
        })
    }

    /// Adds a spec. Errors on a duplicate or malformed id.
    pub fn register(&mut self, spec: EnvSpec) -> Result<(), MakeError> {
        parse_id(spec.id)
            .filter(|(_, v)| v.is_some())
            .ok_or_else(|| MakeError::MalformedId(spec.id.into()))?;
        if self.specs.iter().any(|s| s.id == spec.id) {
            return Err(MakeError::Duplicate(spec.id.into()));
        }
        self.specs.push(spec);
        self.specs.sort_by(|a, b| a.id.cmp(b.id));
        Ok(())
    }

    /// All specs, sorted by id.
    pub fn specs(&self) -> &[EnvSpec] {
        &self.specs
    }

    /// Resolves an id (possibly unversioned) to its spec.
    pub fn spec(&self, id: &str) -> Result<&EnvSpec, MakeError> {
        let (name, version) = parse_id(id).ok_or_else(|| MakeError::MalformedId(id.into()))?;
        let same_name: Vec<&EnvSpec> =
            self.specs.iter().filter(|s| parse_id(s.id).map(|(n, _)| n) == Some(name)).collect();
        if same_name.is_empty() {
            let ids: Vec<&str> = self.specs.iter().map(|s| s.id).collect();
            return Err(MakeError::UnknownId { id: id.into(), suggestions: close_matches(id, &ids) });
        }
        match version {
            None => {
                Ok(*same_name.iter().max_by_key(|s| parse_id(s.id).and_then(|(_, v)| v)).expect("non-empty"))
            }
            Some(_) => {
                same_name.iter().find(|s| s.id == id).copied().ok_or_else(|| MakeError::UnknownVersion {
                    id: id.into(),
                    available: same_name.iter().map(|s| s.id.to_string()).collect(),
                })
            }
        }
    }

    /// Builds an environment with typed options, wrapped in a [`TimeLimit`] when it has one.
    pub fn make_with(&self, id: &str, options: &[(&str, OptionValue)]) -> Result<Box<dyn Env>, MakeError> {
        let spec = self.spec(id)?;
        let mut resolved = Options::default();
        for o in &spec.options {
            resolved.values.insert(o.name, o.default.clone());
        }
        let mut max_steps = spec.max_episode_steps;
        for (name, value) in options {
            if *name == MAX_EPISODE_STEPS {
                match value.clone().coerce(OptionKind::Int) {
                    Some(OptionValue::Int(n)) if n >= 0 => max_steps = (n > 0).then_some(n as u64),
                    _ => {
                        return Err(MakeError::BadOption {
                            env: spec.id.into(),
                            option: MAX_EPISODE_STEPS.into(),
                            value: value.to_string(),
                            expected: "a non-negative int (0 disables the limit)".into(),
                        });
                    }
                }
                continue;
            }
            let Some(decl) = spec.options.iter().find(|o| o.name == *name) else {
                let accepted: Vec<&str> =
                    spec.options.iter().map(|o| o.name).chain(std::iter::once(MAX_EPISODE_STEPS)).collect();
                return Err(MakeError::UnknownOption {
                    env: spec.id.into(),
                    option: name.to_string(),
                    suggestions: close_matches(name, &accepted),
                    accepted: accepted.iter().map(|s| s.to_string()).collect(),
                });
            };
            let v = value.clone().coerce(decl.default.kind()).ok_or_else(|| MakeError::BadOption {
                env: spec.id.into(),
                option: name.to_string(),
                value: value.to_string(),
                expected: format!("a {}", decl.default.kind()),
            })?;
            resolved.values.insert(decl.name, v);
        }
        let env = (spec.entry_point)(&resolved)?;
        Ok(match max_steps {
            Some(n) => Box::new(TimeLimit::new(env, n)),
            None => env,
        })
    }

    /// Builds an environment from `key=value` strings (as given on the command line); each value is
    /// parsed with the type its option declares.
    pub fn make_from_strings(
        &self,
        id: &str,
        options: &[(String, String)],
    ) -> Result<Box<dyn Env>, MakeError> {
        let spec = self.spec(id)?;
        let mut typed = Vec::with_capacity(options.len());
        for (k, v) in options {
            let kind = if k == MAX_EPISODE_STEPS {
                OptionKind::Int
            } else {
                match spec.options.iter().find(|o| o.name == k) {
                    Some(o) => o.default.kind(),
                    None => OptionKind::Str, // reported as unknown by make_with
                }
            };
            let value = OptionValue::parse(kind, v).ok_or_else(|| MakeError::BadOption {
                env: spec.id.into(),
                option: k.clone(),
                value: v.clone(),
                expected: format!("a {kind}"),
            })?;
            typed.push((k.as_str(), value));
        }
        self.make_with(spec.id, &typed)
    }
}

/// `make(id)` on the built-in registry with default options.
pub fn make(id: &str) -> Result<Box<dyn Env>, MakeError> {
    Registry::builtin().make_with(id, &[])
}

/// `make(id, **options)` on the built-in registry.
pub fn make_with(id: &str, options: &[(&str, OptionValue)]) -> Result<Box<dyn Env>, MakeError> {
    Registry::builtin().make_with(id, options)
}

/// Splits `Name-vN` into its name and version; `Name` alone has no version.
fn parse_id(id: &str) -> Option<(&str, Option<u32>)> {
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return None;
    }
    match id.rsplit_once("-v") {
        Some((name, v)) if !name.is_empty() && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            Some((name, Some(v.parse().ok()?)))
        }
        _ => Some((id, None)),
    }
}

/// Candidates within a small edit distance of `query` (case-insensitive), or sharing a prefix.
pub fn close_matches(query: &str, candidates: &[&str]) -> Vec<String> {
    let q = query.to_ascii_lowercase();
    let q_name = parse_id(&q).map(|(n, _)| n.to_string()).unwrap_or(q.clone());
    let mut scored: Vec<(usize, &str)> = candidates
        .iter()
        .filter_map(|c| {
            let lc = c.to_ascii_lowercase();
            let c_name = parse_id(&lc).map(|(n, _)| n.to_string()).unwrap_or(lc.clone());
            let d = levenshtein(&q, &lc).min(levenshtein(&q_name, &c_name));
            let limit = (q_name.len() / 3).max(2);
            let related = c_name.contains(&q_name) || q_name.contains(&c_name);
            (d <= limit || (related && q_name.len() >= 3)).then_some((d, *c))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, c)| c.to_string()).collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + usize::from(ca != *cb));
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_with_and_without_version() {
        assert_eq!(parse_id("CartPole-v1"), Some(("CartPole", Some(1))));
        assert_eq!(parse_id("CartPole"), Some(("CartPole", None)));
        assert_eq!(parse_id("Mountain-Car-v10"), Some(("Mountain-Car", Some(10))));
        assert_eq!(parse_id("bad id"), None);
    }

    #[test]
    fn close_matches_find_typos() {
        let ids = ["CartPole-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0"];
        assert_eq!(close_matches("CartPol-v1", &ids)[0], "CartPole-v1");
        assert_eq!(close_matches("cartpole-v1", &ids)[0], "CartPole-v1");
        assert!(close_matches("MountainCar-v5", &ids).contains(&"MountainCar-v0".to_string()));
        assert!(close_matches("Zebra-v0", &ids).is_empty());
    }
}
