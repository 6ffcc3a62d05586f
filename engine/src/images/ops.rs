//! Image operations behind the `/images` endpoints.

use std::collections::{BTreeMap, BTreeSet};

use berth_api::auth::AuthConfig;
use berth_api::container::GraphDriver;
use berth_api::filters::Filters;
use berth_api::image as api;
use berth_api::progress::Message;
use berth_proto::v1;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use super::progress::{PullTranslator, PushTranslator};
use super::reference::{familiar, familiar_repo, has_tag, normalize, remote_path, taggable};
use super::{ImageInfo, Named};
use crate::engine::Engine;
use crate::error::{Error, Kind, Result};
use crate::util::{rfc3339_nano, short_id};

/// Lines of a streamed answer (pull, push, load progress; save's tar).
pub type Lines = mpsc::Receiver<Bytes>;

impl Engine {
    /// Registry options for `registry` (host[:port]) with the caller's credentials.
    pub fn registry_options(&self, registry: &str, auth: &AuthConfig) -> v1::RegistryOptions {
        v1::RegistryOptions {
            auth: (!auth.is_empty()).then(|| v1::RegistryAuth {
                username: auth.username.clone(),
                password: auth.password.clone(),
                identity_token: auth.identity_token.clone(),
                registry_token: auth.registry_token.clone(),
            }),
            insecure: self.settings.registry_is_insecure(registry),
            mirrors: if registry == "docker.io" {
                self.settings.registry_mirrors.clone()
            } else {
                vec![]
            },
        }
    }

    /// Image ids in use by containers, with the number of containers each.
    fn image_use(&self) -> BTreeMap<String, i64> {
        let mut m = BTreeMap::new();
        for c in self.containers.list() {
            *m.entry(c.with(|r| r.image_id.clone())).or_insert(0) += 1;
        }
        m
    }

    /// `GET /images/json`.
    pub async fn image_list(&self, filters: &Filters, all: bool) -> Result<Vec<api::Summary>> {
        // Cached build steps are intermediate images: their names are never listed, and
        // an image with no other name is shown with `all` only (dockerd's `-a`).
        filters
            .validate(&["dangling", "label", "before", "since", "reference", "until"])
            .map_err(Error::invalid)?;
        let named = self.images.all(&self.shimd).await?;
        let uses = self.image_use();
        let mut groups: BTreeMap<String, Vec<Named>> = BTreeMap::new();
        let mut step_images: BTreeMap<String, Named> = BTreeMap::new();
        for n in named {
            if crate::build::cache::is_step_image(&n.name) {
                step_images.insert(n.info.id.clone(), n);
                continue;
            }
            groups.entry(n.info.id.clone()).or_default().push(n);
        }
        if all {
            for (id, n) in step_images {
                groups.entry(id).or_insert_with(|| vec![n]);
            }
        }
        let created_of = |reference: &str, groups: &BTreeMap<String, Vec<Named>>| -> Result<i64> {
            groups
                .values()
                .find(|g| {
                    g.iter().any(|n| {
                        n.info.id.contains(reference)
                            || familiar(&n.name) == reference
                            || normalize(reference)
                                .map(|r| r.to_string() == n.name)
                                .unwrap_or(false)
                    })
                })
                .map(|g| g[0].info.config.created_unix())
                .ok_or_else(|| Error::no_such_image(reference))
        };
        let before = match filters.get("before").first() {
            Some(r) => Some(created_of(r, &groups)?),
            None => None,
        };
        let since = match filters.get("since").first() {
            Some(r) => Some(created_of(r, &groups)?),
            None => None,
        };
        let mut out = Vec::new();
        for (id, group) in &groups {
            let info = &group[0].info;
            let labels = info.config.container_defaults().labels.unwrap_or_default();
            let created = info.config.created_unix();
            if filters
                .get("dangling")
                .iter()
                .any(|d| d == "true" || d == "1")
            {
                continue; // named images only: nothing is dangling
            }
            if !filters.matches_labels("label", &labels) {
                continue;
            }
            if before.map(|b| created >= b).unwrap_or(false)
                || since.map(|s| created <= s).unwrap_or(false)
            {
                continue;
            }
            // As dockerd: only the names that match a reference pattern are listed.
            let refs = filters.get("reference");
            let matching: Vec<Named>;
            let group = if refs.is_empty() {
                group.as_slice()
            } else {
                matching = group
                    .iter()
                    .filter(|n| refs.iter().any(|r| reference_matches(r, &n.name)))
                    .cloned()
                    .collect();
                if matching.is_empty() {
                    continue;
                }
                matching.as_slice()
            };
            out.push(self.image_summary(id, group, &uses));
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    fn image_summary(
        &self,
        id: &str,
        group: &[Named],
        uses: &BTreeMap<String, i64>,
    ) -> api::Summary {
        let info = &group[0].info;
        let mut tags: Vec<String> = group
            .iter()
            .filter(|n| has_tag(&n.name) && !crate::build::cache::is_step_image(&n.name))
            .map(|n| familiar(&n.name))
            .collect();
        tags.sort();
        let digests = repo_digests(group);
        api::Summary {
            id: id.to_string(),
            parent_id: String::new(),
            repo_tags: tags,
            repo_digests: digests,
            created: info.config.created_unix(),
            size: info.disk_size(),
            shared_size: -1,
            virtual_size: None,
            labels: info.config.container_defaults().labels.unwrap_or_default(),
            containers: uses.get(id).copied().unwrap_or(0),
        }
    }

    /// `GET /images/{name}/json`.
    pub async fn image_inspect(&self, r: &str) -> Result<api::InspectResponse> {
        let resolved = self.images.resolve(&self.shimd, r).await?;
        let info = resolved.info;
        let group: Vec<Named> = self
            .images
            .all(&self.shimd)
            .await?
            .into_iter()
            .filter(|n| n.info.id == info.id && !crate::build::cache::is_step_image(&n.name))
            .collect();
        Ok(inspect_of(&info, &group))
    }

    /// `GET /images/{name}/history`.
    pub async fn image_history(&self, r: &str) -> Result<Vec<api::HistoryItem>> {
        let resolved = self.images.resolve(&self.shimd, r).await?;
        let info = resolved.info;
        let tags: Vec<String> = self
            .images
            .names_of(&self.shimd, &info.id)
            .await?
            .iter()
            .filter(|n| has_tag(n))
            .map(|n| familiar(n))
            .collect();
        let sizes = self.layer_sizes(&info).await;
        let mut layer_sizes = sizes.into_iter();
        let mut items: Vec<api::HistoryItem> = info
            .config
            .history
            .iter()
            .map(|h| api::HistoryItem {
                id: "<missing>".into(),
                created: h
                    .created
                    .as_deref()
                    .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                    .map(|t| t.timestamp())
                    .unwrap_or(0),
                created_by: h.created_by.clone(),
                tags: vec![],
                size: if h.empty_layer {
                    0
                } else {
                    layer_sizes.next().unwrap_or(0)
                },
                comment: h.comment.clone(),
            })
            .collect();
        if items.is_empty() {
            items.push(api::HistoryItem {
                id: "<missing>".into(),
                created: info.config.created_unix(),
                size: info.size,
                ..Default::default()
            });
        }
        items.reverse();
        items[0].id = info.id.clone();
        items[0].tags = tags;
        Ok(items)
    }

    /// The size of each layer as docker reports it in history: its unpacked size once the
    /// image is unpacked (so the sizes add up to the image's `Size`), else its download size.
    pub(super) async fn layer_sizes(&self, info: &super::ImageInfo) -> Vec<i64> {
        let download: Vec<i64> = info.layers.iter().map(|l| l.size).collect();
        if !info.unpacked {
            return download;
        }
        let Ok(diff_ids) = info
            .diff_ids
            .iter()
            .map(|d| d.parse::<berth_image::digest::Digest>())
            .collect::<std::result::Result<Vec<_>, _>>()
        else {
            return download;
        };
        let mut out = Vec::with_capacity(diff_ids.len());
        for chain in berth_image::manifest::chain_ids(&diff_ids) {
            let key = chain.to_string();
            match self
                .shimd
                .snapshots()
                .usage(v1::SnapshotKeyRequest { key })
                .await
            {
                Ok(u) => out.push(u.into_inner().size),
                Err(_) => return download,
            }
        }
        out
    }

    /// `POST /images/{name}/tag`.
    pub async fn image_tag(&self, source: &str, repo: &str, tag: &str) -> Result<()> {
        if repo.is_empty() {
            return Err(Error::invalid(
                "repository name must have at least one component",
            ));
        }
        let target = if tag.is_empty() {
            repo.to_string()
        } else {
            format!("{repo}:{tag}")
        };
        let target = taggable(normalize(&target)?)?;
        let resolved = self.images.resolve(&self.shimd, source).await?;
        let src = match &resolved.name {
            Some(n) => n.clone(),
            None => resolved.info.id.clone(),
        };
        self.shimd
            .images()
            .tag(v1::TagImageRequest {
                source: src,
                target: target.to_string(),
            })
            .await
            .map_err(Error::from)?;
        self.image_event("tag", &resolved.info.id, &familiar(&target.to_string()));
        Ok(())
    }

    /// `DELETE /images/{name}`: untags, and deletes the image once no name is left.
    pub async fn image_remove(&self, r: &str, force: bool) -> Result<Vec<api::DeleteItem>> {
        self.image_remove_with(r, force, true).await
    }

    /// [`Self::image_remove`]; without `collect` the caller collects the garbage, once for
    /// many removals, and so learns the space they freed (a prune reports it).
    async fn image_remove_with(
        &self,
        r: &str,
        force: bool,
        collect: bool,
    ) -> Result<Vec<api::DeleteItem>> {
        let resolved = self.images.resolve(&self.shimd, r).await?;
        let id = resolved.info.id.clone();
        let names = self.images.names_of(&self.shimd, &id).await?;
        let users: Vec<(String, bool)> = self
            .containers
            .list()
            .iter()
            .filter(|c| c.with(|r| r.image_id == id))
            .map(|c| (c.id.clone(), c.with(|r| r.state.running)))
            .collect();
        // Removing by name untags that name only; by ID, every name goes.
        let by_name = resolved.name.is_some();
        let to_untag: Vec<String> = match &resolved.name {
            Some(n) => vec![n.clone()],
            None => {
                if names.len() > 1 && !force {
                    return Err(Error::conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        short_id(&id)
                    )));
                }
                names.clone()
            }
        };
        let deletes_image = to_untag.len() == names.len();
        if deletes_image {
            if let Some((cid, _)) = users.iter().find(|(_, running)| *running) {
                return Err(Error::conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                    short_id(&id),
                    short_id(cid)
                )));
            }
            if let Some((cid, _)) = users.first() {
                if !force {
                    let what = if by_name {
                        format!("remove repository reference \"{r}\"")
                    } else {
                        format!("delete {}", short_id(&id))
                    };
                    return Err(Error::conflict(format!(
                        "conflict: unable to {what} (must force) - container {} is using its referenced image {}",
                        short_id(cid),
                        short_id(&id)
                    )));
                }
            }
        }
        let mut out = Vec::new();
        for n in &to_untag {
            match self
                .shimd
                .images()
                .delete(v1::DeleteImageRequest { name: n.clone() })
                .await
            {
                Ok(_) => {}
                Err(s) if s.code() == tonic::Code::NotFound => {}
                Err(s) => return Err(s.into()),
            }
            let shown = familiar(n);
            self.image_event("untag", &id, &shown);
            out.push(api::DeleteItem {
                untagged: Some(shown),
                deleted: None,
            });
        }
        if deletes_image {
            self.image_event("delete", &id, "");
            out.push(api::DeleteItem {
                untagged: None,
                deleted: Some(id.clone()),
            });
            // Content no name refers to any more goes now, so the space is back at once.
            if collect {
                self.garbage_collect().await;
            }
        }
        Ok(out)
    }

    /// Removes unreferenced content and snapshots in shimd; returns the bytes reclaimed.
    pub async fn garbage_collect(&self) -> u64 {
        match self
            .shimd
            .system()
            .garbage_collect(v1::GarbageCollectRequest { dry_run: false })
            .await
        {
            Ok(r) => r.into_inner().bytes_reclaimed.max(0) as u64,
            Err(e) => {
                tracing::warn!("garbage collection in shimd failed: {}", e.message());
                0
            }
        }
    }

    /// `POST /images/prune`: with `dangling=false`, every image no container uses.
    pub async fn image_prune(&self, filters: &Filters) -> Result<api::PruneResponse> {
        filters
            .validate(&["dangling", "until", "label", "label!"])
            .map_err(Error::invalid)?;
        let only_dangling = !filters
            .get("dangling")
            .iter()
            .any(|d| d == "false" || d == "0");
        let mut deleted = Vec::new();
        if !only_dangling {
            let uses = self.image_use();
            let now = chrono::Utc::now();
            let until = filters
                .get("until")
                .first()
                .map(|u| {
                    crate::util::parse_time_param(u, now)
                        .ok_or_else(|| Error::invalid(format!("invalid filter 'until={u}'")))
                })
                .transpose()?;
            let mut seen = BTreeSet::new();
            for n in self.images.all(&self.shimd).await? {
                if uses.contains_key(&n.info.id) || !seen.insert(n.info.id.clone()) {
                    continue;
                }
                let labels = n
                    .info
                    .config
                    .container_defaults()
                    .labels
                    .unwrap_or_default();
                if !filters.matches_labels("label", &labels) {
                    continue;
                }
                if filters.get("label!").iter().any(|l| {
                    let one = Filters(BTreeMap::from([("l".to_string(), vec![l.clone()])]));
                    one.matches_labels("l", &labels)
                }) {
                    continue;
                }
                if let (Some(u), Some(c)) = (until, n.info.config.created_time()) {
                    if c >= u {
                        continue;
                    }
                }
                match self.image_remove_with(&n.info.id, true, false).await {
                    Ok(items) => deleted.extend(items),
                    Err(e) if e.kind == Kind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let reclaimed = self.garbage_collect().await;
        self.events.publish(
            "image",
            "prune",
            "",
            BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
        );
        Ok(api::PruneResponse {
            images_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }

    /// `POST /images/create?fromImage=`: pulls, streaming docker's progress lines. Errors
    /// before the registry answers are returned as such (so they get an HTTP status).
    pub async fn image_pull(
        self: &std::sync::Arc<Self>,
        image: &str,
        tag: &str,
        auth: AuthConfig,
        platform: Option<v1::Platform>,
    ) -> Result<Lines> {
        let full = match (tag.is_empty(), tag.starts_with("sha256:")) {
            (true, _) => image.to_string(),
            (false, true) => format!("{image}@{tag}"),
            (false, false) => format!("{image}:{tag}"),
        };
        let reference = normalize(&full)?;
        let name = reference.to_string();
        let before = self
            .shimd
            .images()
            .get(v1::GetImageRequest { name: name.clone() })
            .await
            .ok()
            .and_then(|i| i.into_inner().target.map(|t| t.digest));
        let req = v1::PullRequest {
            reference: name.clone(),
            platform,
            unpack: true,
            registry: Some(self.registry_options(&reference.registry, &auth)),
            labels: Default::default(),
        };
        // A registry refusing access reads as dockerd says it (not a 401, which would make
        // the docker CLI prompt for a login in the middle of a pull).
        let denied = |e: Error| {
            if matches!(e.kind, Kind::Unauthorized | Kind::Forbidden) {
                Error::not_found(format!(
                    "pull access denied for {}, repository does not exist or may require 'docker login': {}",
                    familiar_repo(&name),
                    e.message
                ))
            } else {
                e
            }
        };
        let mut stream = self
            .shimd
            .images()
            .pull(req)
            .await
            .map_err(|s| denied(Error::from(s)))?
            .into_inner();
        let first = stream.message().await.map_err(|s| denied(Error::from(s)))?;
        let (tx, rx) = mpsc::channel(64);
        let engine = self.clone();
        let tag_shown = reference
            .tag
            .clone()
            .or_else(|| reference.digest.as_ref().map(|d| d.to_string()))
            .unwrap_or_else(|| "latest".into());
        let path = remote_path(&reference);
        tokio::spawn(async move {
            let send = |m: Message| {
                let tx = tx.clone();
                async move { tx.send(Bytes::from(m.to_line())).await.is_ok() }
            };
            if !send(Message::status(format!("Pulling from {path}"), &tag_shown)).await {
                return;
            }
            let mut t = PullTranslator::default();
            let mut next = first;
            loop {
                let msg = match next {
                    Some(m) => m,
                    None => {
                        let _ = send(Message::error(format!(
                            "pull of {} ended early",
                            familiar(&name)
                        )))
                        .await;
                        return;
                    }
                };
                match msg.kind {
                    Some(v1::pull_progress::Kind::Blob(b)) => {
                        if let Some(m) = t.blob(&b) {
                            if !send(m).await {
                                return;
                            }
                        }
                    }
                    Some(v1::pull_progress::Kind::Status(_)) | None => {}
                    Some(v1::pull_progress::Kind::Image(img)) => {
                        let digest = img.target.map(|d| d.digest).unwrap_or_default();
                        let _ = send(Message::status(format!("Digest: {digest}"), "")).await;
                        let shown = familiar(&name);
                        let status = if before.as_deref() == Some(digest.as_str()) && !t.downloaded
                        {
                            format!("Status: Image is up to date for {shown}")
                        } else {
                            format!("Status: Downloaded newer image for {shown}")
                        };
                        let _ = send(Message::status(status, "")).await;
                        engine.image_event("pull", &shown, &familiar_repo(&name));
                        return;
                    }
                }
                next = match stream.message().await {
                    Ok(m) => m,
                    Err(s) => {
                        let _ = send(Message::error(s.message().to_string())).await;
                        return;
                    }
                };
            }
        });
        Ok(rx)
    }

    /// `POST /images/{name}/push`.
    pub async fn image_push(
        self: &std::sync::Arc<Self>,
        name: &str,
        tag: &str,
        auth: AuthConfig,
    ) -> Result<Lines> {
        let full = if tag.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{tag}")
        };
        let reference = normalize(&full)?;
        let local = reference.to_string();
        if self
            .shimd
            .images()
            .get(v1::GetImageRequest {
                name: local.clone(),
            })
            .await
            .is_err()
        {
            return Err(Error::not_found(format!(
                "An image does not exist locally with the tag: {}",
                familiar_repo(&local)
            )));
        }
        let info = self.images.resolve(&self.shimd, &local).await?.info;
        let layer_ids: Vec<(String, String)> = info
            .layers
            .iter()
            .map(|l| l.digest.clone())
            .zip(info.diff_ids.iter().cloned())
            .collect();
        let mut stream = self
            .shimd
            .images()
            .push(v1::PushRequest {
                name: local.clone(),
                reference: String::new(),
                registry: Some(self.registry_options(&reference.registry, &auth)),
                platform: None,
            })
            .await
            .map_err(Error::from)?
            .into_inner();
        let (tx, rx) = mpsc::channel(64);
        let engine = self.clone();
        let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
        tokio::spawn(async move {
            let send = |m: Message| {
                let tx = tx.clone();
                async move { tx.send(Bytes::from(m.to_line())).await.is_ok() }
            };
            let repo = familiar_repo(&local);
            let repo_full = if repo.contains('/')
                && repo
                    .split('/')
                    .next()
                    .map(|h| h.contains('.') || h.contains(':'))
                    .unwrap_or(false)
            {
                repo.clone()
            } else {
                format!(
                    "docker.io/{}",
                    if repo.contains('/') {
                        repo.clone()
                    } else {
                        format!("library/{repo}")
                    }
                )
            };
            if !send(Message::status(
                format!("The push refers to repository [{repo_full}]"),
                "",
            ))
            .await
            {
                return;
            }
            let mut t = PushTranslator::with_diff_ids(layer_ids);
            loop {
                match stream.message().await {
                    Ok(Some(m)) => match m.kind {
                        Some(v1::push_progress::Kind::Blob(b)) => {
                            if let Some(line) = t.blob(&b) {
                                if !send(line).await {
                                    return;
                                }
                            }
                        }
                        Some(v1::push_progress::Kind::Pushed(d)) => {
                            let _ = send(Message::status(
                                format!("{tag}: digest: {} size: {}", d.digest, d.size),
                                "",
                            ))
                            .await;
                            let _ = send(Message {
                                progress_detail: Some(Default::default()),
                                aux: Some(serde_json::json!({"Tag": tag, "Digest": d.digest, "Size": d.size})),
                                ..Default::default()
                            })
                            .await;
                            engine.image_event("push", &familiar(&local), &repo);
                            return;
                        }
                        _ => {}
                    },
                    Ok(None) => return,
                    Err(s) => {
                        let _ = send(Message::error(s.message().to_string())).await;
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }

    /// `GET /images/get` and `/images/{name}/get`: one tar of the named images.
    pub async fn image_save(&self, refs: &[String]) -> Result<Lines> {
        if refs.is_empty() {
            return Err(Error::invalid("no images given to save"));
        }
        let mut names = Vec::new();
        for r in refs {
            let resolved = self.images.resolve(&self.shimd, r).await?;
            match resolved.name {
                Some(n) => names.push(n),
                None => names.extend(self.images.names_of(&self.shimd, &resolved.info.id).await?),
            }
        }
        let mut stream = self
            .shimd
            .images()
            .export(v1::ExportRequest {
                names: names.clone(),
                platform: None,
                all_platforms: false,
            })
            .await
            .map_err(Error::from)?
            .into_inner();
        let first = stream.message().await.map_err(Error::from)?;
        let (tx, rx) = mpsc::channel(16);
        for n in &names {
            self.image_event("save", n, &familiar(n));
        }
        tokio::spawn(async move {
            let mut next = first;
            while let Some(chunk) = next {
                if tx.send(Bytes::from(chunk.data)).await.is_err() {
                    return;
                }
                next = match stream.message().await {
                    Ok(m) => m,
                    Err(s) => {
                        tracing::warn!("image export failed midway: {}", s.message());
                        return;
                    }
                };
            }
        });
        Ok(rx)
    }

    /// `POST /images/load`: imports a docker-archive or oci-archive tar; returns the lines
    /// docker prints ("Loaded image: busybox:latest").
    pub async fn image_load<S>(&self, body: S) -> Result<Vec<Message>>
    where
        S: futures::Stream<Item = std::result::Result<Bytes, axum::Error>> + Send + 'static,
    {
        let opts = v1::ImportRequest {
            kind: Some(v1::import_request::Kind::Options(v1::ImportOptions {
                unpack: true,
                default_name: String::new(),
            })),
        };
        // Chunks are cut to at most 1 MiB so no gRPC message gets near the size limit.
        let data = futures::StreamExt::flat_map(body.map(|r| r.unwrap_or_default()), |b: Bytes| {
            let mut parts = Vec::new();
            let mut b = b;
            while b.len() > (1 << 20) {
                parts.push(b.split_to(1 << 20));
            }
            if !b.is_empty() {
                parts.push(b);
            }
            futures::stream::iter(parts)
        })
        .map(|b| v1::ImportRequest {
            kind: Some(v1::import_request::Kind::Data(b.to_vec())),
        });
        let reqs = tokio_stream::once(opts).chain(data);
        let resp = self
            .shimd
            .images()
            .import(reqs)
            .await
            .map_err(|s| Error::from(s).context("loading images"))?
            .into_inner();
        let mut out = Vec::new();
        for img in resp.images {
            let digest = img
                .target
                .as_ref()
                .map(|t| t.digest.clone())
                .unwrap_or_default();
            let id = match self.images.info(&self.shimd, &img).await {
                Ok(i) => i.id.clone(),
                Err(_) => digest,
            };
            if has_tag(&img.name) {
                out.push(Message::stream(format!(
                    "Loaded image: {}\n",
                    familiar(&img.name)
                )));
            } else {
                out.push(Message::stream(format!("Loaded image ID: {id}\n")));
            }
            self.image_event("load", &id, &familiar(&img.name));
        }
        Ok(out)
    }
}

fn repo_digests(group: &[Named]) -> Vec<String> {
    let mut v: Vec<String> = group
        .iter()
        .map(|n| format!("{}@{}", familiar_repo(&n.name), n.info.target))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// docker's image inspect answer for an image and the names pointing at it.
pub fn inspect_of(info: &ImageInfo, group: &[Named]) -> api::InspectResponse {
    let c = &info.config;
    let mut tags: Vec<String> = group
        .iter()
        .filter(|n| has_tag(&n.name))
        .map(|n| familiar(&n.name))
        .collect();
    tags.sort();
    let last_tag = group
        .iter()
        .filter_map(|n| n.image.updated_at.as_ref())
        .filter_map(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
        .max();
    api::InspectResponse {
        id: info.id.clone(),
        repo_tags: tags,
        repo_digests: repo_digests(group),
        parent: String::new(),
        comment: c.comment.clone(),
        created: c
            .created_time()
            .map(|t| rfc3339_nano(&t))
            .unwrap_or_default(),
        // Legacy fields (dropped from the API in 1.45) that docker-compose 1.x still reads.
        container: Some(c.container.clone()),
        container_config: Some(c.container_config.clone().unwrap_or_default()),
        docker_version: c.docker_version.clone(),
        author: c.author.clone(),
        config: c.container_defaults(),
        architecture: c.architecture.clone(),
        variant: c.variant.clone(),
        os: c.os.clone(),
        os_version: c.os_version.clone(),
        size: info.disk_size(),
        virtual_size: None,
        graph_driver: GraphDriver {
            data: BTreeMap::new(),
            name: "overlayfs".into(),
        },
        root_fs: api::RootFs {
            kind: "layers".into(),
            layers: if c.rootfs.diff_ids.is_empty() {
                info.diff_ids.clone()
            } else {
                c.rootfs.diff_ids.clone()
            },
        },
        metadata: api::Metadata {
            last_tag_time: last_tag
                .map(|t| rfc3339_nano(&t))
                .unwrap_or_else(|| crate::util::ZERO_TIME.into()),
        },
    }
}

/// docker's reference filter (`filepath.Match` patterns; a malformed one matches nothing): the pattern matches the familiar name with its tag, or the
/// familiar repository alone.
fn reference_matches(pattern: &str, name: &str) -> bool {
    let pattern = berth_gocompat::glob::Pattern::new(pattern);
    let matches = |s: &str| pattern.matches(s).unwrap_or(false);
    matches(&familiar(name)) || matches(&familiar_repo(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_match_by_name_with_tag_or_repository() {
        let n = "docker.io/library/busybox:latest";
        assert!(reference_matches("busybox", n));
        assert!(reference_matches("busybox:latest", n));
        assert!(reference_matches("busy*:lat*", n));
        assert!(!reference_matches("busybox:1", n));
        assert!(!reference_matches("other", n));
        assert!(reference_matches(
            "localhost:5000/app",
            "localhost:5000/app:v1"
        ));
        assert!(!reference_matches("app", "localhost:5000/app:v1"));
        // filepath.Match: classes work, `*` stops at `/`, a malformed pattern matches nothing.
        assert!(reference_matches("busybox:[kl]atest", n));
        assert!(!reference_matches("*box", "localhost:5000/busybox:v1"));
        assert!(!reference_matches("busybox[", n));
    }
}
