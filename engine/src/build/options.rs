//! The query of `POST /build`: what the docker CLI sends for `docker build` (`t`, `q`,
//! `nocache`, `rm`, `forcerm`, `buildargs`, `labels`, `target`, `networkmode`, ...).

use std::collections::BTreeMap;

use crate::api::Query;
use crate::error::{Error, Result};
use crate::images::reference;

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's path in the context.
    pub dockerfile: String,
    /// The names to give the image, fully qualified.
    pub tags: Vec<String>,
    pub quiet: bool,
    pub no_cache: bool,
    /// Remove a RUN step's container once it succeeded.
    pub remove: bool,
    /// Remove it even when it failed.
    pub force_remove: bool,
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: String,
    pub network_mode: String,
    /// `remote=`: the URL of the context (the request body is then ignored).
    pub remote: String,
}

fn json_param<T: serde::de::DeserializeOwned + Default>(q: &Query, key: &str) -> Result<T> {
    match q.get(key) {
        None | Some("") => Ok(T::default()),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| Error::invalid(format!("invalid {key} parameter {s:?}: {e}"))),
    }
}

impl BuildOptions {
    pub fn from_query(q: &Query) -> Result<BuildOptions> {
        let mut tags = Vec::new();
        for t in q.all("t").into_iter().filter(|t| !t.is_empty()) {
            let r = reference::normalize(&t)?;
            if r.digest.is_some() {
                return Err(Error::invalid(format!(
                    "invalid reference format: {t} has a digest (give NAME[:TAG])"
                )));
            }
            tags.push(r.to_string());
        }
        let dockerfile = match q.str("dockerfile") {
            "" => "Dockerfile".to_string(),
            d => d.to_string(),
        };
        let remote = q.str("remote").to_string();
        if !remote.is_empty() {
            super::remote::check_url(&remote)?;
        }
        Ok(BuildOptions {
            dockerfile,
            tags,
            quiet: q.bool("q"),
            no_cache: q.bool("nocache"),
            remove: q.bool_or("rm", true),
            force_remove: q.bool("forcerm"),
            build_args: json_param(q, "buildargs")?,
            labels: json_param(q, "labels")?,
            target: q.str("target").to_string(),
            network_mode: q.str("networkmode").to_string(),
            remote,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::of(&format!("/build?{s}").parse().unwrap())
    }

    #[test]
    fn reads_what_the_docker_cli_sends() {
        let o = BuildOptions::from_query(&q(
            "t=a&t=b:1&q=1&rm=0&buildargs=%7B%22X%22%3A%221%22%2C%22Y%22%3Anull%7D&labels=%7B%22k%22%3A%22v%22%7D&target=s",
        ))
        .unwrap();
        assert_eq!(
            o.tags,
            ["docker.io/library/a:latest", "docker.io/library/b:1"]
        );
        assert!(o.quiet && !o.remove && !o.no_cache);
        assert_eq!(o.build_args["X"].as_deref(), Some("1"));
        assert_eq!(o.build_args["Y"], None);
        assert_eq!(o.labels["k"], "v");
        assert_eq!(o.dockerfile, "Dockerfile");
        assert_eq!(o.target, "s");
    }

    #[test]
    fn refuses_bad_input() {
        assert!(BuildOptions::from_query(&q("t=UPPER")).is_err());
        let e = BuildOptions::from_query(&q("buildargs=nojson")).unwrap_err();
        assert!(
            e.message.contains("invalid buildargs parameter"),
            "{}",
            e.message
        );
    }
}
