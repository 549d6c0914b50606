//! The outcome space: discrete issues, each with ordered options. An outcome picks one option
//! per issue and is stored as one mixed-radix number, first issue most significant, so outcome
//! ids sort like the option indices they encode (lexicographically).

use crate::CoreError;
use serde::Serialize;

/// The largest outcome space we enumerate; each negotiator keeps one `f64` per outcome.
pub const MAX_OUTCOMES: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub name: String,
    pub options: Vec<String>,
}

impl Issue {
    pub fn new(name: impl Into<String>, options: &[&str]) -> Self {
        Issue { name: name.into(), options: options.iter().map(|o| o.to_string()).collect() }
    }
}

/// One outcome of an [`IssueSpace`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutcomeId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueSpace {
    issues: Vec<Issue>,
    strides: Vec<u32>,
    size: u32,
}

impl IssueSpace {
    pub fn new(issues: Vec<Issue>) -> Result<Self, CoreError> {
        if issues.is_empty() {
            return Err(CoreError::InvalidSpace("a negotiation needs at least one issue".into()));
        }
        let mut size: u64 = 1;
        for (i, issue) in issues.iter().enumerate() {
            if issue.options.is_empty() {
                return Err(CoreError::InvalidSpace(format!("issue `{}` has no options", issue.name)));
            }
            if issues[..i].iter().any(|other| other.name == issue.name) {
                return Err(CoreError::InvalidSpace(format!("issue `{}` is listed twice", issue.name)));
            }
            for (j, option) in issue.options.iter().enumerate() {
                if issue.options[..j].contains(option) {
                    return Err(CoreError::InvalidSpace(format!(
                        "issue `{}` lists option `{option}` twice",
                        issue.name
                    )));
                }
            }
            size = size.saturating_mul(issue.options.len() as u64);
        }
        if size > MAX_OUTCOMES {
            return Err(CoreError::InvalidSpace(format!("{size} outcomes; at most {MAX_OUTCOMES} are allowed")));
        }
        let mut strides = vec![1u32; issues.len()];
        for i in (0..issues.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * issues[i + 1].options.len() as u32;
        }
        Ok(IssueSpace { issues, strides, size: size as u32 })
    }

    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    pub fn len(&self) -> u32 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub fn outcomes(&self) -> impl Iterator<Item = OutcomeId> + use<> {
        (0..self.size).map(OutcomeId)
    }

    pub fn issue_index(&self, name: &str) -> Option<usize> {
        self.issues.iter().position(|i| i.name == name)
    }

    pub fn option_index(&self, issue: usize, option: &str) -> Option<usize> {
        self.issues[issue].options.iter().position(|o| o == option)
    }

    /// The option index that `outcome` picks for issue `issue`.
    #[inline]
    pub fn option_of(&self, outcome: OutcomeId, issue: usize) -> usize {
        ((outcome.0 / self.strides[issue]) % self.issues[issue].options.len() as u32) as usize
    }

    /// Builds an outcome from one option index per issue.
    pub fn outcome(&self, choice: &[usize]) -> Result<OutcomeId, CoreError> {
        if choice.len() != self.issues.len() {
            return Err(CoreError::InvalidSpace(format!(
                "an outcome needs {} options, got {}",
                self.issues.len(),
                choice.len()
            )));
        }
        let mut id = 0u32;
        for (i, &c) in choice.iter().enumerate() {
            if c >= self.issues[i].options.len() {
                return Err(CoreError::InvalidSpace(format!(
                    "issue `{}` has no option number {c}",
                    self.issues[i].name
                )));
            }
            id += c as u32 * self.strides[i];
        }
        Ok(OutcomeId(id))
    }

    /// `(issue, option)` labels of an outcome, in issue order.
    pub fn describe(&self, outcome: OutcomeId) -> Vec<(String, String)> {
        self.issues
            .iter()
            .enumerate()
            .map(|(i, issue)| (issue.name.clone(), issue.options[self.option_of(outcome, i)].clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> IssueSpace {
        IssueSpace::new(vec![
            Issue::new("a", &["a0", "a1", "a2", "a3"]),
            Issue::new("b", &["b0", "b1", "b2", "b3"]),
            Issue::new("c", &["c0", "c1"]),
        ])
        .unwrap()
    }

    #[test]
    fn outcome_ids_round_trip_through_option_indices() {
        let s = space();
        assert_eq!(s.len(), 32);
        for o in s.outcomes() {
            let choice: Vec<usize> = (0..3).map(|i| s.option_of(o, i)).collect();
            assert_eq!(s.outcome(&choice).unwrap(), o);
        }
        assert_eq!(s.outcome(&[1, 2, 1]).unwrap(), OutcomeId(8 + 4 + 1));
    }

    #[test]
    fn rejects_duplicate_issues_and_options_and_empty_spaces() {
        assert!(IssueSpace::new(vec![]).is_err());
        assert!(IssueSpace::new(vec![Issue::new("a", &["x"]), Issue::new("a", &["y"])]).is_err());
        assert!(IssueSpace::new(vec![Issue::new("a", &["x", "x"])]).is_err());
        assert!(IssueSpace::new(vec![Issue::new("a", &[])]).is_err());
    }
}
