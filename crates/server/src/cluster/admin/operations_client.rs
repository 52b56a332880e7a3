//! The operator commands' side of the `Operations` service: one call per command, on its own
//! connection to the node's gRPC port.

use std::future::Future;
use std::time::Duration;

use tonic::transport::Channel;
use tonic::{Code, Response, Status};

use super::client::{AdminClientError, channel, refused, unreachable};
use crate::cluster::proto::operations_client::OperationsClient;

/// Connects to the node at `host` (`ip:port`) and makes one call, which may take up to
/// `timeout` (connecting: 10 s at most). A node that answers with an error refused, with its
/// reason; one that cannot be reached or did not answer in time is unreachable.
pub async fn operate<T, F, Fut>(
    host: &str,
    timeout: Duration,
    make: F,
) -> Result<T, AdminClientError>
where
    F: FnOnce(OperationsClient<Channel>) -> Fut,
    Fut: Future<Output = Result<Response<T>, Status>>,
{
    let channel = channel(host, timeout.min(Duration::from_secs(10)), timeout).await?;
    make(OperationsClient::new(channel))
        .await
        .map(Response::into_inner)
        .map_err(|s| match s.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                unreachable(host, s.message())
            }
            _ => refused(host, &s),
        })
}
