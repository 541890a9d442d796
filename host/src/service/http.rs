//! The hardened HTTP shell every hpo server shares (`hpo worker`, `hpo serve`): hyper and
//! axum on tokio, with bounds on what any client can take.
//!
//! - headers are bounded in size ([`MAX_HEADER_BYTES`]) and in time ([`HEADER_TIMEOUT`]),
//!   bodies in size ([`MAX_BODY_BYTES`]) and time, a whole request in time
//!   ([`REQUEST_TIMEOUT`]) and a connection in lifetime ([`CONNECTION_LIFETIME`]);
//! - at most [`MAX_CONNECTIONS`] connections are served at once (more are closed at
//!   accept), each on its own task, so no client, authenticated or not, holds what
//!   another one needs.
//!
//! Each server adds its own authentication, which runs before a request's body is read.
//! With a certificate and key ([`tls`]), connections are TLS (rustls with the ring
//! provider, TLS 1.2 and 1.3); the handshake is bounded by [`HEADER_TIMEOUT`] too.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;

/// Largest request head (request line and headers) accepted, bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest request body accepted, bytes (requests are a few kilobytes).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Time a client has to send a request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a request (its body included) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest life of one connection (clients open one per request).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// Connections served at once (64 clients with keep-alive connections fit, with room).
pub const MAX_CONNECTIONS: usize = 256;

/// Whether `listen` reaches beyond this machine (any of its addresses is not loopback).
pub fn exposed(listen: &str) -> std::io::Result<bool> {
    let addresses: Vec<SocketAddr> = listen.to_socket_addrs()?.collect();
    Ok(addresses.iter().any(|a| !a.ip().is_loopback()))
}

/// `routes` with the body limit (axum's own, so a refused body gets a JSON-able 413) and
/// the request timeouts.
pub fn limited(routes: axum::Router) -> axum::Router {
    use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
    routes
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyTimeoutLayer::new(REQUEST_TIMEOUT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// A TLS acceptor from a PEM certificate chain and its PEM private key; the error names
/// the file and why.
pub fn tls(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no certificate in it",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` on `listener` (non-blocking, bound) until the process ends, over TLS when
/// given an acceptor; `name` labels the logs.
pub async fn serve(
    listener: std::net::TcpListener,
    app: axum::Router,
    name: &'static str,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let service = hyper_util::service::TowerToHyperService::new(app);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("{name}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                "{name}: {MAX_CONNECTIONS} connections open; closing the one from {peer}"
            );
            continue;
        };
        let service = service.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let builder = {
                let mut b = hyper::server::conn::http1::Builder::new();
                b.timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(MAX_HEADER_BYTES);
                b
            };
            let served = async {
                match tls {
                    None => builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                        .map_err(|e| e.to_string()),
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream));
                        let stream = match handshake.await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => return Err(format!("TLS handshake: {e}")),
                            Err(_) => return Err("TLS handshake timed out".into()),
                        };
                        builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                            .map_err(|e| e.to_string())
                    }
                }
            };
            match tokio::time::timeout(CONNECTION_LIFETIME, served).await {
                Ok(Err(e)) => tracing::debug!("{name}: connection from {peer}: {e}"),
                Err(_) => tracing::debug!("{name}: connection from {peer} outlived its lifetime"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}
