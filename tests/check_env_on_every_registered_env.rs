//! Contract: every environment in the built-in registry passes `check_env` (no errors), and the
//! registry's bad-input paths give errors that name the problem.

use alignrl_envs::checker::{Severity, check_env};
use alignrl_envs::{MakeError, OptionValue, Registry, make, make_with};

#[test]
fn every_registered_env_passes_check_env() {
    let reg = Registry::builtin();
    assert!(reg.specs().len() >= 8, "classic + tabular envs registered");
    for spec in reg.specs() {
        let mut env = make(spec.id).unwrap_or_else(|e| panic!("{}: {e}", spec.id));
        let errors: Vec<_> =
            check_env(env.as_mut()).into_iter().filter(|f| f.severity == Severity::Error).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", spec.id);
    }
}

#[test]
fn unknown_ids_versions_and_options_are_named() {
    match make("CartPol-v1") {
        Err(MakeError::UnknownId { suggestions, .. }) => assert_eq!(suggestions[0], "CartPole-v1"),
        other => panic!("{:?}", other.err()),
    }
    match make("CartPole-v0") {
        Err(MakeError::UnknownVersion { available, .. }) => assert_eq!(available, vec!["CartPole-v1"]),
        other => panic!("{:?}", other.err()),
    }
    let e = make_with("Pendulum-v1", &[("gravity", OptionValue::Float(9.81))]).err().unwrap();
    assert!(e.to_string().contains("\"gravity\"") && e.to_string().contains("accepts: g"), "{e}");
    let e = make_with("Pendulum-v1", &[("g", OptionValue::Bool(true))]).err().unwrap();
    assert!(matches!(e, MakeError::BadOption { ref option, .. } if option == "g"), "{e}");
    // Unversioned ids resolve to the newest version.
    assert!(make("CartPole").is_ok());
}
