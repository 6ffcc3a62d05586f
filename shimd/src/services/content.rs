//! berth.v1.Content: the blobs a namespace references (the files are shared).

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use berth_image::Digest;
use berth_proto::v1::content_server::{Content, ContentServer};
use berth_proto::v1::{
    ContentInfo, ContentInfoRequest, DeleteContentRequest, ListContentRequest, ListContentResponse,
    ReadContentRequest, ReadContentResponse, UpdateContentLabelsRequest, WriteContentRequest,
    WriteContentResponse,
};
use tonic::{Request, Response, Status, Streaming};

use crate::events::{async_stream, now};
use crate::filters::Filters;
use crate::image_error::status;
use crate::metadata::CONTENT;
use crate::namespace;
use crate::server::Core;

pub struct ContentService {
    core: Arc<Core>,
}

pub fn server(core: Arc<Core>) -> ContentServer<ContentService> {
    ContentServer::new(ContentService { core }).max_decoding_message_size(64 << 20)
}

fn parse(d: &str) -> Result<Digest, Status> {
    d.parse().map_err(status)
}

impl ContentService {
    fn info(&self, ns: &str, d: &str) -> Result<ContentInfo, Status> {
        parse(d)?;
        self.core
            .db
            .get::<ContentInfo>(CONTENT, ns, d)?
            .ok_or_else(|| Status::not_found(format!("content {d} not found in this namespace")))
    }
}

#[tonic::async_trait]
impl Content for ContentService {
    async fn info(
        &self,
        req: Request<ContentInfoRequest>,
    ) -> Result<Response<ContentInfo>, Status> {
        let ns = namespace::of(&req)?;
        Ok(Response::new(ContentService::info(
            self,
            &ns,
            &req.get_ref().digest,
        )?))
    }

    async fn list(
        &self,
        req: Request<ListContentRequest>,
    ) -> Result<Response<ListContentResponse>, Status> {
        let ns = namespace::of(&req)?;
        let filters = Filters::parse(&req.get_ref().filters)?;
        let infos = self
            .core
            .db
            .list::<ContentInfo>(CONTENT, &ns)?
            .into_iter()
            .map(|(_, i)| i)
            .filter(|i| {
                filters.matches(|f| match f {
                    "digest" => Some(i.digest.clone()),
                    _ => f
                        .strip_prefix("labels.")
                        .and_then(|k| i.labels.get(k).cloned()),
                })
            })
            .collect();
        Ok(Response::new(ListContentResponse { infos }))
    }

    type ReadStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<ReadContentResponse, Status>> + Send>>;

    async fn read(
        &self,
        req: Request<ReadContentRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        ContentService::info(self, &ns, &r.digest)?;
        let d = parse(&r.digest)?;
        if r.offset < 0 || r.size < 0 {
            return Err(Status::invalid_argument(
                "offset and size must not be negative",
            ));
        }
        let store = self.core.content.clone();
        Ok(Response::new(async_stream(move |tx| async move {
            let t2 = tx.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let whole = r.offset == 0 && r.size == 0;
                let res = (|| -> Result<(), Status> {
                    let mut rd: Box<dyn Read> = if whole {
                        Box::new(store.verified_reader(&d).map_err(status)?)
                    } else {
                        let mut f = store.open_blob(&d).map_err(status)?;
                        f.seek(SeekFrom::Start(r.offset as u64))
                            .map_err(|e| Status::internal(e.to_string()))?;
                        if r.size > 0 {
                            Box::new(f.take(r.size as u64))
                        } else {
                            Box::new(f)
                        }
                    };
                    let mut off = r.offset;
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = rd
                            .read(&mut buf)
                            .map_err(|e| Status::data_loss(format!("reading {d}: {e}")))?;
                        if n == 0 {
                            return Ok(());
                        }
                        let m = ReadContentResponse {
                            offset: off,
                            data: buf[..n].to_vec(),
                        };
                        off += n as i64;
                        if t2.blocking_send(Ok(m)).is_err() {
                            return Ok(());
                        }
                    }
                })();
                if let Err(e) = res {
                    let _ = t2.blocking_send(Err(e));
                }
            })
            .await;
        })))
    }

    async fn write(
        &self,
        req: Request<Streaming<WriteContentRequest>>,
    ) -> Result<Response<WriteContentResponse>, Status> {
        let ns = namespace::of(&req)?;
        let lease = crate::leases::of_request(&self.core.db, &ns, &req)?;
        let mut s = req.into_inner();
        let first = s
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty write stream"))?;
        let expected = if first.expected_digest.is_empty() {
            None
        } else {
            Some(parse(&first.expected_digest)?)
        };
        let total = (first.total > 0).then_some(first.total as u64);
        let labels = first.labels.clone();
        let ingest = crate::leases::random_id("write-");
        let mut w = self
            .core
            .content
            .writer(&ingest, expected.as_ref(), total)
            .map_err(status)?;
        let mut data = first.data;
        loop {
            tokio::task::block_in_place(|| w.write_all(&data))
                .map_err(|e| Status::internal(format!("writing content: {e}")))?;
            match s.message().await? {
                Some(m) => data = m.data,
                None => break,
            }
        }
        let size = w.offset();
        let d = tokio::task::spawn_blocking(move || w.commit())
            .await
            .map_err(|e| Status::internal(format!("commit task: {e}")))?
            .map_err(status)?;
        let key = d.to_string();
        if let Some(l) = &lease {
            crate::leases::add_resource(&self.core.db, &ns, l, crate::leases::CONTENT, &key)?;
        }
        self.core.db.write(|tx| {
            let mut info: ContentInfo = tx.get(CONTENT, &ns, &key)?.unwrap_or(ContentInfo {
                digest: key.clone(),
                size: size as i64,
                created_at: Some(now()),
                labels: Default::default(),
            });
            info.labels.extend(labels.clone());
            tx.put(CONTENT, &ns, &key, &info)
        })?;
        Ok(Response::new(WriteContentResponse {
            digest: key,
            size: size as i64,
        }))
    }

    async fn delete(&self, req: Request<DeleteContentRequest>) -> Result<Response<()>, Status> {
        let ns = namespace::of(&req)?;
        let key = req.get_ref().digest.clone();
        let d = parse(&key)?;
        if !self.core.db.delete(CONTENT, &ns, &key)? {
            return Err(Status::not_found(format!(
                "content {key} not found in this namespace"
            )));
        }
        let others: Vec<(String, String, ContentInfo)> = self.core.db.list_all(CONTENT)?;
        if !others.iter().any(|(_, k, _)| *k == key) {
            self.core.content.delete(&d).map_err(status)?;
        }
        self.core
            .events
            .publish(&ns, "/content/delete", [("digest", key.as_str())]);
        Ok(Response::new(()))
    }

    async fn update_labels(
        &self,
        req: Request<UpdateContentLabelsRequest>,
    ) -> Result<Response<ContentInfo>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        parse(&r.digest)?;
        let info = self.core.db.write(|tx| {
            let mut info: ContentInfo = tx.get(CONTENT, &ns, &r.digest)?.ok_or_else(|| {
                Status::not_found(format!("content {} not found in this namespace", r.digest))
            })?;
            info.labels = r.labels.clone();
            tx.put(CONTENT, &ns, &r.digest, &info)?;
            Ok(info)
        })?;
        Ok(Response::new(info))
    }
}
