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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use threddex_store::StoreError;
    use tower::ServiceExt;
    use tracing_subscriber::layer::{Context, SubscriberExt};

    use super::*;
    use crate::error::ApiError;

    /// The error events logged: `(message, fields)`.
    #[derive(Clone, Default)]
    struct Errors(Arc<Mutex<Vec<String>>>);

    struct Fields<'a>(&'a mut String);

    impl tracing::field::Visit for Fields<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={value:?} ", field.name()));
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Errors {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if *event.metadata().level() == tracing::Level::ERROR {
                let mut line = String::new();
                event.record(&mut Fields(&mut line));
                self.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        }
    }

    async fn call(app: &Router, path: &str) -> (StatusCode, String) {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn each_server_failure_is_logged_once_with_its_sources() {
        let errors = Errors::default();
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
        let app = Router::new()
            .route(
                "/store",
                get(|| async {
                    ApiError::Store(StoreError::Database(
                        std::io::Error::other("disk on fire").into(),
                    ))
                }),
            )
            .route(
                "/missing",
                get(|| async { ApiError::Store(StoreError::NotFound("x".into())) }),
            )
            .route(
                "/logged",
                get(|| async {
                    let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    r.extensions_mut().insert(LoggedAlready);
                    r
                }),
            )
            .route("/bare", get(|| async { StatusCode::BAD_GATEWAY }))
            .layer(axum::middleware::from_fn(log_failures));

        let (status, body) = call(&app, "/store").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            r#"{"error":{"message":"internal error: the index could not be read"}}"#
        );
        let (status, _) = call(&app, "/missing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(&app, "/logged").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let (status, _) = call(&app, "/bare").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);

        let logged = errors
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert_eq!(logged.len(), 2, "{logged:?}");
        assert!(
            logged[0].contains("error=database error: disk on fire"),
            "{logged:?}"
        );
        assert!(logged[0].contains("path=\"/store\""), "{logged:?}");
        assert!(logged[1].contains("status=502"), "{logged:?}");
    }
}
