//! One log line per server failure. Every 5xx answer is logged here, once, with the detail
//! its handler attached ([`Failure`]) — the body the client gets stays generic. Handlers and
//! error conversions do not log 5xx themselves, and 4xx answers (the client's doing) are not
//! logged as errors.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// What went wrong behind a 5xx answer, attached to the response for the log.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    /// What failed (the log message).
    pub what: &'static str,
    /// Why: the error and its sources on one line.
    pub detail: String,
}

/// Marks a 5xx answer whose failure was logged where it happened (the CSW core logs its own,
/// with the detail it keeps from the client).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoggedAlready;

/// Attach `failure` to `response` for [`log_failures`].
pub(crate) fn with_failure(mut response: Response, failure: Failure) -> Response {
    response.extensions_mut().insert(failure);
    response
}

/// The middleware: log a 5xx answer once, at error level.
pub(crate) async fn log_failures(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let res = next.run(req).await;
    let status = res.status();
    if !status.is_server_error() || res.extensions().get::<LoggedAlready>().is_some() {
        return res;
    }
    let path = uri.path();
    match res.extensions().get::<Failure>() {
        Some(f) => tracing::error!(
            status = status.as_u16(),
            %method,
            path,
            error = %f.detail,
            "{}",
            f.what
        ),
        None => tracing::error!(status = status.as_u16(), %method, path, "server failure"),
    }
    res
}
