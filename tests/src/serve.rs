//! The accept loop. hyper is driven directly (not `axum::serve`) so a response marked
//! [`DropConnection`] can close the connection without sending anything: hyper 1 ends a
//! connection whose service returns an error.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::routes::DropConnection;

/// The error that makes hyper close a connection instead of answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose (fault injection)")]
struct Dropped;

/// Serves until `shutdown` turns true; then open connections are closed too.
pub(crate) async fn serve(listener: TcpListener, router: Router, shutdown: watch::Receiver<bool>) {
    let mut stop = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                // Small request/response pairs: do not let Nagle delay them.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, router.clone(), shutdown.clone()));
            }
            Err(error) => {
                // Out of file descriptors and the like: back off briefly instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let router = router.clone();
        async move {
            let response: Result<Response<Body>, Infallible> = router.oneshot(request).await;
            match response {
                Ok(response) if response.extensions().get::<DropConnection>().is_some() => {
                    Err(Dropped)
                }
                Ok(response) => Ok(response),
                Err(never) => match never {},
            }
        }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        _ = shutdown.wait_for(|stopped| *stopped) => {}
    }
}
