//! berth.v1.Images: image records, pull, push, import, export, unpack.

use std::io::Read;
use std::sync::Arc;

use berth_image::archive;
use berth_image::manifest;
use berth_proto::v1::images_server::{Images, ImagesServer};
use berth_proto::v1::{
    import_request, pull_progress, CreateImageRequest, DeleteImageRequest, ExportChunk,
    ExportRequest, GetImageRequest, Image, ImageDetail, ImportRequest, ImportResponse,
    InspectImageRequest, ListImagesRequest, ListImagesResponse, PullProgress, PullRequest,
    PushProgress, PushRequest, TagImageRequest, UnpackRequest, UnpackResponse,
};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use crate::events::async_stream;
use crate::filters::Filters;
use crate::image_error::status;
use crate::image_records::{self, find, from_proto, platform_of, to_proto};
use crate::leases::OpLease;
use crate::metadata::IMAGES;
use crate::namespace;
use crate::server::Core;

pub struct ImagesService {
    core: Arc<Core>,
}

pub fn server(core: Arc<Core>) -> ImagesServer<ImagesService> {
    ImagesServer::new(ImagesService { core })
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

type Stream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

fn field(img: &Image, f: &str) -> Option<String> {
    match f {
        "name" => Some(img.name.clone()),
        "target.digest" => img.target.as_ref().map(|t| t.digest.clone()),
        "target.mediatype" => img.target.as_ref().map(|t| t.media_type.clone()),
        _ => f
            .strip_prefix("labels.")
            .and_then(|k| img.labels.get(k).cloned()),
    }
}

/// A reader over the data messages of an import stream (blocking side).
struct ImportReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: std::io::Cursor<Vec<u8>>,
}

impl Read for ImportReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.cur.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.rx.blocking_recv() {
                Some(v) => self.cur = std::io::Cursor::new(v),
                None => return Ok(0),
            }
        }
    }
}

/// A writer sending export chunks to the response stream (blocking side).
struct ChunkWriter {
    tx: mpsc::Sender<Result<ExportChunk, Status>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        self.tx
            .blocking_send(Ok(ExportChunk { data }))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl ImagesService {
    fn detail(
        &self,
        ns: &str,
        img: Image,
        platform: Option<&berth_proto::v1::Platform>,
    ) -> Result<ImageDetail, Status> {
        let core = &self.core;
        let target = img
            .target
            .clone()
            .ok_or_else(|| Status::internal(format!("image {:?} has no target", img.name)))?;
        let p = platform_of(platform);
        let r = manifest::resolve(&core.content, &from_proto(&target), &p)
            .map_err(|e| crate::image_error::context(status(e), &format!("image {}", img.name)))?;
        let chains = r.chain_ids();
        let chain_id = chains.last().map(|c| c.to_string()).unwrap_or_default();
        // Without layers the rootfs is an empty snapshot: nothing to unpack.
        let mut unpacked = true;
        let mut unpacked_size = 0i64;
        for c in &chains {
            match core.snapshots.usage(ns, &c.to_string()) {
                Ok((b, _)) => unpacked_size += b as i64,
                Err(_) => unpacked = false,
            }
        }
        let size = r.manifest.layers.iter().map(|l| l.size).sum::<i64>() + r.manifest.config.size;
        let names = core
            .db
            .list::<Image>(IMAGES, ns)?
            .into_iter()
            .filter(|(n, i)| {
                *n != img.name && i.target.as_ref().map(|t| &t.digest) == Some(&target.digest)
            })
            .map(|(n, _)| n)
            .collect();
        Ok(ImageDetail {
            image: Some(img),
            manifest: Some(to_proto(&r.manifest_desc)),
            config: Some(to_proto(&r.manifest.config)),
            config_json: r.config_json.clone(),
            layers: r.manifest.layers.iter().map(to_proto).collect(),
            diff_ids: r.diff_ids.iter().map(|d| d.to_string()).collect(),
            chain_id,
            size,
            unpacked_size: if unpacked { unpacked_size } else { 0 },
            unpacked,
            names,
        })
    }
}

#[tonic::async_trait]
impl Images for ImagesService {
    async fn get(&self, req: Request<GetImageRequest>) -> Result<Response<Image>, Status> {
        let ns = namespace::of(&req)?;
        Ok(Response::new(find(&self.core, &ns, &req.get_ref().name)?))
    }

    async fn list(
        &self,
        req: Request<ListImagesRequest>,
    ) -> Result<Response<ListImagesResponse>, Status> {
        let ns = namespace::of(&req)?;
        let filters = Filters::parse(&req.get_ref().filters)?;
        let images = self
            .core
            .db
            .list::<Image>(IMAGES, &ns)?
            .into_iter()
            .map(|(_, i)| i)
            .filter(|i| filters.matches(|f| field(i, f)))
            .collect();
        Ok(Response::new(ListImagesResponse { images }))
    }

    async fn inspect(
        &self,
        req: Request<InspectImageRequest>,
    ) -> Result<Response<ImageDetail>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let img = find(&self.core, &ns, &r.name)?;
        Ok(Response::new(self.detail(&ns, img, r.platform.as_ref())?))
    }

    async fn tag(&self, req: Request<TagImageRequest>) -> Result<Response<Image>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let src = find(&self.core, &ns, &r.source)?;
        let target = image_records::normalize(&r.target)?;
        let img = image_records::put(
            &self.core,
            &ns,
            &target,
            src.target.clone().unwrap_or_default(),
            src.labels.clone(),
        )?;
        Ok(Response::new(img))
    }

    async fn delete(&self, req: Request<DeleteImageRequest>) -> Result<Response<()>, Status> {
        let ns = namespace::of(&req)?;
        let img = find(&self.core, &ns, &req.get_ref().name)?;
        self.core.db.delete(IMAGES, &ns, &img.name)?;
        self.core
            .events
            .publish(&ns, "/images/delete", [("name", img.name.as_str())]);
        Ok(Response::new(()))
    }

    type PullStream = Stream<PullProgress>;

    async fn pull(&self, req: Request<PullRequest>) -> Result<Response<Self::PullStream>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        if r.reference.is_empty() {
            return Err(Status::invalid_argument("a reference to pull is required"));
        }
        let core = self.core.clone();
        Ok(Response::new(async_stream(move |tx| async move {
            let res = crate::pull::pull(core, ns, r, tx.clone()).await;
            let msg = res.map(|img| PullProgress {
                kind: Some(pull_progress::Kind::Image(img)),
            });
            let _ = tx.send(msg).await;
        })))
    }

    type PushStream = Stream<PushProgress>;

    async fn push(&self, req: Request<PushRequest>) -> Result<Response<Self::PushStream>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let core = self.core.clone();
        find(&core, &ns, &r.name)?;
        Ok(Response::new(async_stream(move |tx| async move {
            let res = crate::push::push(core, ns, r, tx.clone()).await;
            let msg = res.map(|d| PushProgress {
                kind: Some(berth_proto::v1::push_progress::Kind::Pushed(to_proto(&d))),
            });
            let _ = tx.send(msg).await;
        })))
    }

    async fn import(
        &self,
        req: Request<Streaming<ImportRequest>>,
    ) -> Result<Response<ImportResponse>, Status> {
        let ns = namespace::of(&req)?;
        let mut stream = req.into_inner();
        let first = stream.message().await?.ok_or_else(|| {
            Status::invalid_argument("empty import stream: send the options first")
        })?;
        let opts = match first.kind {
            Some(import_request::Kind::Options(o)) => o,
            _ => {
                return Err(Status::invalid_argument(
                    "the first import message must carry the options",
                ))
            }
        };
        let core = self.core.clone();
        let lease = OpLease::new(&core.db, &ns, "import")?;
        match import_images(&core, &ns, &opts, &mut stream, &lease).await {
            Ok(images) => Ok(Response::new(ImportResponse { images })),
            Err(e) => {
                // A refused archive (or a client gone) leaves no blob or snapshot behind.
                crate::gc::discard(&core, &ns, lease).await;
                Err(e)
            }
        }
    }

    type ExportStream = Stream<ExportChunk>;

    async fn export(
        &self,
        req: Request<ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        if r.names.is_empty() {
            return Err(Status::invalid_argument(
                "name at least one image to export",
            ));
        }
        let mut list = Vec::new();
        for n in &r.names {
            let img = find(&self.core, &ns, n)?;
            list.push(archive::ExportImage {
                name: img.name.clone(),
                target: from_proto(
                    img.target
                        .as_ref()
                        .ok_or_else(|| Status::internal("image without target"))?,
                ),
            });
        }
        let platform = (!r.all_platforms).then(|| platform_of(r.platform.as_ref()));
        let store = self.core.content.clone();
        Ok(Response::new(async_stream(move |tx| async move {
            let t2 = tx.clone();
            let res = tokio::task::spawn_blocking(move || {
                let mut w = ChunkWriter {
                    tx: t2,
                    buf: Vec::new(),
                };
                archive::export(&mut w, &store, &list, platform.as_ref())?;
                std::io::Write::flush(&mut w)
                    .map_err(|e| berth_image::Error::io("sending the archive", e))
            })
            .await;
            match res {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let _ = tx.send(Err(status(e))).await;
                }
                Err(e) => {
                    let _ = tx
                        .send(Err(Status::internal(format!("export task: {e}"))))
                        .await;
                }
            }
        })))
    }

    async fn create(&self, req: Request<CreateImageRequest>) -> Result<Response<Image>, Status> {
        let ns = namespace::of(&req)?;
        Ok(Response::new(
            create_image(&self.core, &ns, req.into_inner()).await?,
        ))
    }

    async fn unpack(
        &self,
        req: Request<UnpackRequest>,
    ) -> Result<Response<UnpackResponse>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let img = find(&self.core, &ns, &r.name)?;
        let target = from_proto(
            img.target
                .as_ref()
                .ok_or_else(|| Status::internal("image without target"))?,
        );
        let resolved = manifest::resolve(
            &self.core.content,
            &target,
            &platform_of(r.platform.as_ref()),
        )
        .map_err(|e| crate::image_error::context(status(e), &img.name))?;
        let lease = OpLease::new(&self.core.db, &ns, "unpack")?;
        let budget = crate::unpack::budget(&self.core);
        let chain =
            crate::unpack::unpack_image(&self.core, &ns, &resolved, &lease, &budget).await?;
        Ok(Response::new(UnpackResponse {
            chain_id: chain.map(|c| c.to_string()).unwrap_or_default(),
        }))
    }
}

/// Images.Create: checks that the target and every blob it reaches are stored, records
/// them as used by `ns`, unpacks for the host platform if asked, then names the image.
async fn create_image(core: &Arc<Core>, ns: &str, r: CreateImageRequest) -> Result<Image, Status> {
    let name = image_records::normalize(&r.name)?;
    let target = r
        .target
        .ok_or_else(|| Status::invalid_argument("a target descriptor is required"))?;
    let t = from_proto(&target);
    let host = berth_image::platform::Platform::host();
    let resolved = manifest::resolve(&core.content, &t, &host)
        .map_err(|e| crate::image_error::context(status(e), &format!("image {name}")))?;
    let mut blobs = Vec::new();
    for d in manifest::walk(&core.content, &t) {
        let digest = d.digest().map_err(status)?;
        if !core.content.exists(&digest) {
            return Err(Status::failed_precondition(format!(
                "image {name}: blob {digest} ({}) is not in the content store; write it first",
                d.media_type
            )));
        }
        blobs.push(digest);
    }
    let lease = OpLease::new(&core.db, ns, "create")?;
    for b in &blobs {
        lease.add(crate::leases::CONTENT, &b.to_string())?;
    }
    image_records::add_content_refs(core, ns, &blobs)?;
    if r.unpack {
        let budget = crate::unpack::budget(core);
        crate::unpack::unpack_image(core, ns, &resolved, &lease, &budget)
            .await
            .map_err(|e| crate::image_error::context(e, &name))?;
    }
    image_records::put(core, ns, &name, target, r.labels)
}

/// Stores the blobs of an import stream, then records (and unpacks) its images. Every
/// blob stored goes on `lease` as it is stored; the layers unpack within one budget.
async fn import_images(
    core: &Arc<Core>,
    ns: &str,
    opts: &berth_proto::v1::ImportOptions,
    stream: &mut Streaming<ImportRequest>,
    lease: &OpLease,
) -> Result<Vec<Image>, Status> {
    let (dtx, drx) = mpsc::channel::<Vec<u8>>(8);
    let store = core.content.clone();
    let default_name = opts.default_name.clone();
    let adder = lease.adder();
    let worker = tokio::task::spawn_blocking(move || {
        let r = ImportReader {
            rx: drx,
            cur: std::io::Cursor::new(Vec::new()),
        };
        let def = (!default_name.is_empty()).then_some(default_name.as_str());
        archive::import(r, &store, def, &mut |d| {
            adder
                .add(crate::leases::CONTENT, &d.to_string())
                .map_err(|s| berth_image::Error::Busy(s.message().to_string()))
        })
    });
    let mut received = Ok(());
    loop {
        match stream.message().await {
            Ok(Some(m)) => {
                if let Some(import_request::Kind::Data(d)) = m.kind {
                    if dtx.send(d).await.is_err() {
                        break; // the importer failed; its error follows
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                received = Err(e);
                break;
            }
        }
    }
    drop(dtx);
    // The importer stops at the end of what arrived; wait for it either way, so nothing
    // is still being written when a failure is cleaned up.
    let imported = worker
        .await
        .map_err(|e| Status::internal(format!("import task: {e}")))?;
    received?;
    let imported = imported.map_err(|e| crate::image_error::context(status(e), "import"))?;
    let budget = crate::unpack::budget(core);
    let mut images = Vec::new();
    for im in imported {
        let blobs: Vec<_> = manifest::walk(&core.content, &im.target)
            .iter()
            .filter_map(|d| d.digest().ok())
            .filter(|d| core.content.exists(d))
            .collect();
        for b in &blobs {
            lease.add(crate::leases::CONTENT, &b.to_string())?;
        }
        if opts.unpack {
            let r = manifest::resolve(
                &core.content,
                &im.target,
                &berth_image::platform::Platform::host(),
            )
            .map_err(|e| crate::image_error::context(status(e), &im.name))?;
            crate::unpack::unpack_image(core, ns, &r, lease, &budget)
                .await
                .map_err(|e| crate::image_error::context(e, &im.name))?;
        }
        image_records::add_content_refs(core, ns, &blobs)?;
        images.push(image_records::put(
            core,
            ns,
            &im.name,
            to_proto(&im.target),
            Default::default(),
        )?);
    }
    Ok(images)
}
