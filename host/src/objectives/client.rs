//! The objective of an experiment that `hpo serve` drives: its clients evaluate the trials
//! they ask for and tell the values back, so the host knows only the search space.

use hpo_plugin_api::types::Matrix;

use super::{Candidate, EvaluationError, Objective, Outcome};
use crate::space::Space;

/// A search space whose points the service's clients evaluate (objective `client:NAME`).
#[derive(Clone)]
pub struct ClientObjective {
    name: String,
    space: Space,
}

impl ClientObjective {
    /// The experiment `name` over `space`.
    pub fn new(name: &str, space: Space) -> Self {
        ClientObjective {
            name: name.to_string(),
            space,
        }
    }
}

impl Objective for ClientObjective {
    fn clone_box(&self) -> Box<dyn Objective> {
        Box::new(self.clone())
    }

    fn label(&self) -> String {
        format!("client:{}", self.name)
    }

    /// A client trains to the budget it is given, as a training command does.
    fn budgets(&self) -> bool {
        true
    }

    fn space(&self) -> &Space {
        &self.space
    }

    fn pool(&self) -> Option<Matrix> {
        None
    }

    fn evaluate(&mut self, _: &Candidate) -> Result<Outcome, EvaluationError> {
        Err(EvaluationError::Candidate(format!(
            "{}: the service's clients evaluate its trials",
            self.label()
        )))
    }

    fn optimum(&self) -> Option<f64> {
        None
    }
}
