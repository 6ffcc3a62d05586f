//! The filter language of every List and Subscribe call.
//!
//! A filter string is comma-separated conditions that must all hold; a list of filter
//! strings passes an object when any of them does (an empty list passes everything).
//! A condition is `field==value`, `field!=value`, `field~=glob` (`*` matches any run of
//! characters), or a bare `field` (the field is present and non-empty). Fields are named by
//! each service, e.g. `name`, `labels.<key>`, `topic`.

use berth_gocompat::glob::matches_star_only;
use tonic::Status;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq,
    Ne,
    Glob,
    Present,
}

#[derive(Debug, Clone)]
struct Condition {
    field: String,
    op: Op,
    value: String,
}

/// A parsed list of filter strings.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    any_of: Vec<Vec<Condition>>,
}

impl Filters {
    /// Parses filter strings; a malformed one is an `invalid_argument` error naming it.
    pub fn parse(filters: &[String]) -> Result<Filters, Status> {
        let mut any_of = Vec::new();
        for f in filters.iter().filter(|f| !f.trim().is_empty()) {
            let mut all = Vec::new();
            for cond in f.split(',') {
                all.push(parse_condition(cond.trim()).ok_or_else(|| {
                    Status::invalid_argument(format!(
                        "invalid filter {f:?}: use field==value, field!=value or field~=glob"
                    ))
                })?);
            }
            any_of.push(all);
        }
        Ok(Filters { any_of })
    }

    /// Does an object pass? `get` returns the value of a field, or None when absent.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.any_of.is_empty()
            || self
                .any_of
                .iter()
                .any(|all| all.iter().all(|c| c.holds(get(&c.field))))
    }
}

fn parse_condition(s: &str) -> Option<Condition> {
    let (field, op, value) = if let Some((f, v)) = s.split_once("==") {
        (f, Op::Eq, v)
    } else if let Some((f, v)) = s.split_once("!=") {
        (f, Op::Ne, v)
    } else if let Some((f, v)) = s.split_once("~=") {
        (f, Op::Glob, v)
    } else {
        (s, Op::Present, "")
    };
    let field = field.trim();
    if field.is_empty() || field.contains(char::is_whitespace) {
        return None;
    }
    Some(Condition {
        field: field.to_string(),
        op,
        value: value.trim().trim_matches('"').to_string(),
    })
}

impl Condition {
    fn holds(&self, actual: Option<String>) -> bool {
        match self.op {
            Op::Eq => actual.as_deref() == Some(self.value.as_str()),
            Op::Ne => actual.as_deref() != Some(self.value.as_str()),
            Op::Glob => actual.is_some_and(|a| matches_star_only(&self.value, &a)),
            Op::Present => actual.is_some_and(|a| !a.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(list: &[&str]) -> Filters {
        Filters::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn obj(field: &str) -> Option<String> {
        match field {
            "name" => Some("docker.io/library/busybox:latest".into()),
            "labels.app" => Some("web".into()),
            _ => None,
        }
    }

    #[test]
    fn empty_passes_everything() {
        assert!(f(&[]).matches(obj));
    }

    #[test]
    fn conditions_and_within_or_across() {
        assert!(f(&["name~=*busybox*,labels.app==web"]).matches(obj));
        assert!(!f(&["name~=*busybox*,labels.app==db"]).matches(obj));
        assert!(f(&["labels.app==db", "labels.app==web"]).matches(obj));
        assert!(f(&["labels.app"]).matches(obj));
        assert!(!f(&["labels.tier"]).matches(obj));
        assert!(f(&["labels.tier!=x"]).matches(obj));
        assert!(f(&["name~=docker.io/*box:*"]).matches(obj));
        assert!(!f(&["name~=*alpine*"]).matches(obj));
    }

    #[test]
    fn malformed_is_refused() {
        assert!(Filters::parse(&["==x".to_string()]).is_err());
        assert!(Filters::parse(&["a b==x".to_string()]).is_err());
    }
}
