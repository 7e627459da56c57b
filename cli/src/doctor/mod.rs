//! `tether doctor`'s checks: the field report's diagnostic steps, automated. Each check gives
//! one ✔ or ✘ line, and a ✘ always carries the fix.

pub(crate) mod clock;
pub(crate) mod net;
pub(crate) mod store;

use serde_json::{Value, json};

/// One check's verdict.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Fine; what was found.
    Pass(String),
    /// Not fine: what was found, and the fix.
    Fail { found: String, fix: String },
    /// Informational (not checkable here; never fails the run).
    Note(String),
}

impl Check {
    pub(crate) fn pass(name: impl Into<String>, found: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            outcome: Outcome::Pass(found.into()),
        }
    }

    pub(crate) fn fail(
        name: impl Into<String>,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            outcome: Outcome::Fail {
                found: found.into(),
                fix: fix.into(),
            },
        }
    }

    pub(crate) fn note(name: impl Into<String>, found: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            outcome: Outcome::Note(found.into()),
        }
    }

    pub(crate) fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. })
    }

    /// `✔ name: found`, `✘ name: found` + `  fix: …`, `• name: found`.
    pub(crate) fn line(&self) -> String {
        match &self.outcome {
            Outcome::Pass(found) => format!("✔ {}: {found}", self.name),
            Outcome::Note(found) => format!("• {}: {found}", self.name),
            Outcome::Fail { found, fix } => format!("✘ {}: {found}\n    fix: {fix}", self.name),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        match &self.outcome {
            Outcome::Pass(found) => json!({"check": self.name, "ok": true, "found": found}),
            Outcome::Note(found) => {
                json!({"check": self.name, "ok": true, "note": true, "found": found})
            }
            Outcome::Fail { found, fix } => {
                json!({"check": self.name, "ok": false, "found": found, "fix": fix})
            }
        }
    }
}
