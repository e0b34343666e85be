//! The benchmark baseline: a bare axum handler that serves a fixed JSON body from memory at
//! `/api/v1/sites`, with no authentication, database or middleware. `scripts/bench-api.sh` runs it
//! beside Palisade and reports Palisade's throughput as a fraction of this one.
//!
//! Usage: `bare_sites ADDR FILE` serves the contents of FILE (a captured Palisade response).

use axum::Router;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18182".into());
    let body: &'static str = Box::leak(
        std::fs::read_to_string(args.next().unwrap_or_else(|| "sites.json".into()))?
            .into_boxed_str(),
    );
    let app = Router::new().route(
        "/api/v1/sites",
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
