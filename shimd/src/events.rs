//! The event bus: every service publishes what it changes; `Events.Subscribe` streams it.

use std::collections::HashMap;
use std::pin::Pin;

use berth_proto::v1::events_server::{Events, EventsServer};
use berth_proto::v1::{Envelope, SubscribeRequest};
use futures::Stream;
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};

use crate::filters::Filters;

/// How many events a slow subscriber may lag behind before it is told it lost some.
const BUS_CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Envelope>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(BUS_CAPACITY);
        EventBus { tx }
    }
}

impl EventBus {
    /// Publishes an event; attributes are `(name, value)` pairs (e.g. `("id", "web")`).
    pub fn publish<K: Into<String>, V: Into<String>>(
        &self,
        namespace: &str,
        topic: &str,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) {
        let env = Envelope {
            timestamp: Some(now()),
            namespace: namespace.to_string(),
            topic: topic.to_string(),
            attributes: attributes
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        };
        tracing::debug!(namespace, topic, attributes = ?env.attributes, "event");
        // No subscriber is not an error.
        let _ = self.tx.send(env);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.tx.subscribe()
    }
}

pub fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

fn field(env: &Envelope, name: &str) -> Option<String> {
    match name {
        "topic" => Some(env.topic.clone()),
        "namespace" => Some(env.namespace.clone()),
        _ => name
            .strip_prefix("attributes.")
            .and_then(|a| env.attributes.get(a).cloned()),
    }
}

pub struct EventsService {
    bus: EventBus,
}

impl EventsService {
    pub fn server(bus: EventBus) -> EventsServer<Self> {
        EventsServer::new(EventsService { bus })
    }
}

type EnvelopeStream = Pin<Box<dyn Stream<Item = Result<Envelope, Status>> + Send>>;

#[tonic::async_trait]
impl Events for EventsService {
    type SubscribeStream = EnvelopeStream;

    async fn subscribe(
        &self,
        req: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let filters = Filters::parse(&req.get_ref().filters)?;
        let mut rx = self.bus.subscribe();
        let stream = async_stream(move |tx| async move {
            loop {
                match rx.recv().await {
                    Ok(env) => {
                        if filters.matches(|f| field(&env, f)) && tx.send(Ok(env)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let lost = Envelope {
                            timestamp: Some(now()),
                            namespace: String::new(),
                            topic: "/events/lost".into(),
                            attributes: HashMap::from([("count".into(), n.to_string())]),
                        };
                        if tx.send(Ok(lost)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(stream))
    }
}

/// A response stream fed by a spawned task through a bounded channel; the task sees the
/// client go away as a send error.
pub fn async_stream<T, F, Fut>(f: F) -> Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<Result<T, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
