//! Prometheus metrics in the text exposition format: request counts and latencies by route, plus
//! domain counters.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct RouteStats {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// The platform's metrics.
#[derive(Default)]
pub struct Metrics {
    /// (method, route, status) → stats.
    routes: Mutex<BTreeMap<(String, String, u16), RouteStats>>,
    pub registrations: AtomicU64,
    pub filings: AtomicU64,
    pub receipts: AtomicU64,
    pub logins_failed: AtomicU64,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut m) = self.routes.lock() else {
            return;
        };
        let s = m
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// Renders every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP diwan_up Whether the server is running.\n# TYPE diwan_up gauge\ndiwan_up 1"
        );
        let _ = writeln!(
            out,
            "# HELP diwan_build_info Build information.\n# TYPE diwan_build_info gauge\ndiwan_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        for (name, help, v) in [
            (
                "diwan_registrations_total",
                "Correspondences registered through the API and pages.",
                &self.registrations,
            ),
            (
                "diwan_portal_filings_total",
                "Filings received on the public portal.",
                &self.filings,
            ),
            (
                "diwan_receipts_total",
                "Sealed acknowledgements of receipt produced.",
                &self.receipts,
            ),
            (
                "diwan_logins_failed_total",
                "Refused logins.",
                &self.logins_failed,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let r = diwan_app::receipt::receipt_stats();
        let _ = writeln!(
            out,
            "# HELP diwan_receipt_production_seconds Time to produce sealed receipts (PDF and JSON).\n\
             # TYPE diwan_receipt_production_seconds summary\n\
             diwan_receipt_production_seconds_sum {}\ndiwan_receipt_production_seconds_count {}\n\
             # HELP diwan_receipt_sealing_cpu_seconds_total Processor time spent sealing receipts.\n\
             # TYPE diwan_receipt_sealing_cpu_seconds_total counter\n\
             diwan_receipt_sealing_cpu_seconds_total {}",
            r.seconds, r.count, r.sealing_cpu_seconds
        );
        let _ = writeln!(out, "# HELP diwan_http_requests_total HTTP requests.\n# TYPE diwan_http_requests_total counter");
        let Ok(m) = self.routes.lock() else {
            return out;
        };
        for ((method, route, status), s) in m.iter() {
            let _ = writeln!(
                out,
                "diwan_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP diwan_http_request_duration_seconds Time to answer.\n# TYPE diwan_http_request_duration_seconds histogram"
        );
        let mut by_route: BTreeMap<(&str, &str), RouteStats> = BTreeMap::new();
        for ((method, route, _), s) in m.iter() {
            let agg = by_route.entry((method, route)).or_default();
            agg.count += s.count;
            agg.sum += s.sum;
            for i in 0..BUCKETS.len() {
                agg.buckets[i] += s.buckets[i];
            }
        }
        for ((method, route), s) in by_route {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "diwan_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "diwan_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "diwan_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "diwan_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

/// Middleware recording every request.
pub async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    st.metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// `GET /metrics`.
pub async fn serve(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
}
