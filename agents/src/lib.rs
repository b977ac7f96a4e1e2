//! alignrl-agents
