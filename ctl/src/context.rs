//! The connection to shimd, shared by every command.

use std::path::PathBuf;

use berth_proto::client::{self, NsChannel};
use berth_proto::v1;

pub struct Context {
    pub address: PathBuf,
    pub namespace: String,
}

impl Context {
    pub fn new(address: PathBuf, namespace: String) -> Self {
        Context { address, namespace }
    }

    /// A channel to shimd carrying this namespace on every call.
    pub async fn channel(&self) -> anyhow::Result<NsChannel> {
        let ch = client::connect(&self.address).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to shimd at {}: {e}; is shimd running? (--address)",
                self.address.display()
            )
        })?;
        Ok(client::with_namespace(ch, &self.namespace)?)
    }

    pub async fn images(&self) -> anyhow::Result<v1::images_client::ImagesClient<NsChannel>> {
        Ok(v1::images_client::ImagesClient::new(self.channel().await?)
            .max_decoding_message_size(64 << 20))
    }

    pub async fn content(&self) -> anyhow::Result<v1::content_client::ContentClient<NsChannel>> {
        Ok(
            v1::content_client::ContentClient::new(self.channel().await?)
                .max_decoding_message_size(client::MAX_RESPONSE),
        )
    }

    pub async fn snapshots(
        &self,
    ) -> anyhow::Result<v1::snapshots_client::SnapshotsClient<NsChannel>> {
        Ok(
            v1::snapshots_client::SnapshotsClient::new(self.channel().await?)
                .max_decoding_message_size(client::MAX_RESPONSE),
        )
    }

    pub async fn containers(
        &self,
    ) -> anyhow::Result<v1::containers_client::ContainersClient<NsChannel>> {
        Ok(
            v1::containers_client::ContainersClient::new(self.channel().await?)
                .max_decoding_message_size(client::MAX_RESPONSE),
        )
    }

    pub async fn tasks(&self) -> anyhow::Result<v1::tasks_client::TasksClient<NsChannel>> {
        Ok(v1::tasks_client::TasksClient::new(self.channel().await?)
            .max_decoding_message_size(client::MAX_RESPONSE))
    }

    pub async fn events(&self) -> anyhow::Result<v1::events_client::EventsClient<NsChannel>> {
        Ok(v1::events_client::EventsClient::new(self.channel().await?)
            .max_decoding_message_size(client::MAX_RESPONSE))
    }

    pub async fn leases(&self) -> anyhow::Result<v1::leases_client::LeasesClient<NsChannel>> {
        Ok(v1::leases_client::LeasesClient::new(self.channel().await?)
            .max_decoding_message_size(client::MAX_RESPONSE))
    }

    pub async fn system(&self) -> anyhow::Result<v1::system_client::SystemClient<NsChannel>> {
        Ok(v1::system_client::SystemClient::new(self.channel().await?)
            .max_decoding_message_size(client::MAX_RESPONSE))
    }
}

/// An error as one line for the user: a gRPC status shows its message, not its debug form.
pub fn describe(e: &anyhow::Error) -> String {
    match e.downcast_ref::<tonic::Status>() {
        Some(s) => s.message().to_string(),
        None => format!("{e:#}"),
    }
}
