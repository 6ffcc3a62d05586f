//! `--filter key=value` flags as the API's `filters` parameter.

use berth_api::filters::Filters;

use crate::error::{CliError, EXIT_DAEMON};

pub fn to_json(flags: &[String]) -> Result<Option<String>, CliError> {
    if flags.is_empty() {
        return Ok(None);
    }
    let mut filters = Filters::default();
    for f in flags {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            CliError::new(format!("bad format of filter (expected name=value): {f}"))
                .code(EXIT_DAEMON)
        })?;
        filters.add(&k.trim().to_lowercase(), v);
    }
    Ok(Some(filters.to_json()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_values_by_key() {
        let f = super::to_json(&[
            "status=exited".into(),
            "label=a=b".into(),
            "status=created".into(),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(f, r#"{"label":["a=b"],"status":["exited","created"]}"#);
        assert!(super::to_json(&["nonsense".into()]).is_err());
        assert_eq!(super::to_json(&[]).unwrap(), None);
    }
}
