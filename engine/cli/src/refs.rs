//! Image references as users type them: `busybox`, `busybox:1.36`, `host:5000/team/app@sha256:…`.

/// The key docker uses for Docker Hub credentials.
pub const HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The name without tag or digest, as typed (`busybox`, `127.0.0.1:5000/app`).
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, String> {
        let invalid = || format!("invalid reference format: {s:?}");
        if s.is_empty() || s.chars().any(|c| c.is_whitespace()) {
            return Err(invalid());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if name.is_empty() || tag.as_deref() == Some("") {
            return Err(invalid());
        }
        let path = match name.split_once('/') {
            Some((first, rest)) if is_registry_part(first) => rest,
            _ => name,
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "invalid reference format: repository name ({path}) must be lowercase"
            ));
        }
        Ok(ImageRef {
            name: name.to_string(),
            tag,
            digest,
        })
    }

    /// The tag, `latest` when neither tag nor digest was given.
    pub fn tag_or_latest(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// The reference with `:latest` added when it has neither tag nor digest, as docker
    /// prints it in "Unable to find image 'busybox:latest' locally".
    pub fn familiar(&self) -> String {
        let mut s = self.name.clone();
        if let Some(t) = self.tag_or_latest() {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The value for the pull API's `tag` parameter: the digest or the tag.
    pub fn api_tag(&self) -> String {
        self.digest
            .clone()
            .or_else(|| self.tag.clone())
            .unwrap_or_else(|| "latest".into())
    }

    /// The registry host this image lives on (`docker.io` for Docker Hub names).
    pub fn registry(&self) -> String {
        registry_of(&self.name)
    }

    /// The fully qualified name docker prints after a pull (`docker.io/library/busybox:latest`).
    pub fn canonical(&self) -> String {
        let reg = self.registry();
        let explicit =
            self.name.split('/').next().is_some_and(is_registry_part) && self.name.contains('/');
        let mut s = if explicit {
            self.name.clone()
        } else if self.name.contains('/') {
            format!("{reg}/{}", self.name)
        } else {
            format!("{reg}/library/{}", self.name)
        };
        if let Some(t) = self.tag_or_latest() {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

fn is_registry_part(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// The registry host of an image name or a server argument.
pub fn registry_of(name: &str) -> String {
    match name.split_once('/') {
        Some((first, _)) if is_registry_part(first) => first.to_string(),
        _ => "docker.io".to_string(),
    }
}

/// The credentials key for a registry: docker's historical Hub URL for Docker Hub, the
/// host for everything else (a `https://` prefix and path are dropped).
pub fn auth_key(server: &str) -> String {
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or(server);
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "" => HUB_AUTH_KEY.to_string(),
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_tags_and_digests() {
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.canonical(), "docker.io/library/busybox:latest");
        assert_eq!(r.registry(), "docker.io");
        let r = ImageRef::parse("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(r.name, "127.0.0.1:5000/team/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.canonical(), "127.0.0.1:5000/team/app:v1");
        let r = ImageRef::parse("localhost:5000/app").unwrap();
        assert_eq!(r.tag_or_latest(), Some("latest"));
        let r = ImageRef::parse("app@sha256:abcd").unwrap();
        assert_eq!(r.api_tag(), "sha256:abcd");
        assert_eq!(r.familiar(), "app@sha256:abcd");
        assert!(ImageRef::parse("Busybox").is_err());
        assert!(ImageRef::parse("a b").is_err());
        assert!(ImageRef::parse("x:").is_err());
    }

    #[test]
    fn auth_keys() {
        assert_eq!(auth_key("docker.io"), HUB_AUTH_KEY);
        assert_eq!(auth_key("https://index.docker.io/v1/"), HUB_AUTH_KEY);
        assert_eq!(auth_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(auth_key("https://reg.example:443/v2/"), "reg.example:443");
    }
}
