//! The ceiling of the machine at the moment, for the bench scripts: a bare hyper 1.x HTTP/1.1
//! server on the same multi-thread tokio runtime bank-mock uses, answering every request with
//! bank-mock's 15-byte `/healthz` body and doing nothing else. Measured in the same run as
//! bank-mock, it turns "requests per second on a shared, noisy machine" into a ratio.
//!
//! `cargo run --release -p bank-mock --example hello_ceiling [-- 127.0.0.1:PORT]` (default port 0;
//! the bound address is printed). Loopback only; stops on Ctrl-C.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(br#"{"Status":"ok"}"#)));
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    Ok(response)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: SocketAddr = std::env::args().nth(1).as_deref().unwrap_or("127.0.0.1:0").parse()?;
    if !listen.ip().is_loopback() {
        return Err(format!("{listen}: the reference server listens on loopback only").into());
    }
    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        println!("hello_ceiling listening on http://{}", listener.local_addr()?);
        loop {
            let stream = tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(hello);
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    })
}
