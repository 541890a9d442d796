//! The HTTP side of `hpo serve`: JSON routes over [`Tuner`], bearer-token authentication,
//! the hardened shell of [`crate::service::http`], and the OpenAPI 3 document generated
//! from the same types (utoipa), served at `/openapi.json`.
//!
//! Authentication: once the store holds a token (`hpo serve token create`), every route
//! but `/health` and `/openapi.json` needs `Authorization: Bearer TOKEN`; the token's
//! SHA-256 digest is compared with every token in force in constant time. Revoking every
//! token closes the service rather than opening it. Without tokens the service refuses to
//! listen beyond the loopback unless told `--insecure`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::OpenApi;

use super::{
    AskAnswer, Decision, ExperimentInfo, NewExperiment, Report, ServiceError, Tell, TrialInfo,
    TrialToRun, Tuner,
};
use crate::service::http;
use crate::store::{Location, Store, tokens};

/// An error answer's body.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// One line saying why.
    pub error: String,
}

/// What `POST /experiments` answers.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Created {
    /// The new experiment's id.
    pub id: i64,
}

/// What `/health` answers.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// The OpenAPI document of the service.
#[derive(OpenApi)]
#[openapi(
    info(title = "hpo serve", description = "Ask/tell hyperparameter optimization over HTTP"),
    paths(
        health, list_experiments, create_experiment, get_experiment, list_trials, ask,
        report, heartbeat, tell, stop, plot, events
    ),
    components(schemas(
        ErrorBody, Created, Health, NewExperiment, ExperimentInfo, AskAnswer, TrialToRun,
        Report, Decision, Tell, TrialInfo
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// Declares the bearer scheme.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The service's shared state.
struct Service {
    tuner: Arc<Tuner>,
    /// A connection to the store for the token checks (one per service, not per request).
    tokens: Store,
}

/// An answer: a JSON body with a status, or an error.
type Answer<T> = std::result::Result<(StatusCode, Json<T>), ServiceError>;

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// A JSON body, or the 400/413/415 answer saying why it is not one.
fn body<T>(payload: std::result::Result<Json<T>, JsonRejection>) -> Result<T, ServiceError> {
    payload.map(|Json(v)| v).map_err(|rejection| {
        let status = match rejection.status().as_u16() {
            413 => 413,
            415 => 415,
            _ => 400,
        };
        ServiceError::new(status, rejection.body_text())
    })
}

/// The path's ids, or the 400 answer saying why they are not.
fn ids<T>(path: std::result::Result<T, PathRejection>) -> Result<T, ServiceError> {
    path.map_err(|rejection| ServiceError::new(400, rejection.body_text()))
}

/// Runs a blocking tuner call off the async workers.
async fn blocking<T: Send + 'static>(
    service: &Arc<Service>,
    f: impl FnOnce(&Tuner) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    let service = service.clone();
    tokio::task::spawn_blocking(move || f(&service.tuner))
        .await
        .map_err(|e| ServiceError::new(500, format!("the call failed: {e}")))?
}

#[utoipa::path(get, path = "/health", security(()),
    responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/experiments",
    responses((status = 200, body = [ExperimentInfo]), (status = 401, body = ErrorBody)))]
async fn list_experiments(State(s): State<Arc<Service>>) -> Answer<Vec<ExperimentInfo>> {
    let list = blocking(&s, |t| t.list()).await?;
    Ok((StatusCode::OK, Json(list)))
}

#[utoipa::path(post, path = "/experiments", request_body = NewExperiment,
    responses((status = 201, body = Created), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_experiment(
    State(s): State<Arc<Service>>,
    payload: std::result::Result<Json<NewExperiment>, JsonRejection>,
) -> Answer<Created> {
    let new = body(payload)?;
    let id = blocking(&s, move |t| t.create(new)).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[utoipa::path(get, path = "/experiments/{id}", params(("id" = i64, Path, minimum = 1, maximum = 2147483647, example = 1)),
    responses((status = 200, body = ExperimentInfo), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get_experiment(
    State(s): State<Arc<Service>>,
    path: std::result::Result<UrlPath<i64>, PathRejection>,
) -> Answer<ExperimentInfo> {
    let UrlPath(id) = ids(path)?;
    let info = blocking(&s, move |t| t.info(id)).await?;
    Ok((StatusCode::OK, Json(info)))
}

#[utoipa::path(get, path = "/experiments/{id}/trials", params(("id" = i64, Path, minimum = 1, maximum = 2147483647, example = 1)),
    responses((status = 200, body = [TrialInfo]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn list_trials(
    State(s): State<Arc<Service>>,
    path: std::result::Result<UrlPath<i64>, PathRejection>,
) -> Answer<Vec<TrialInfo>> {
    let UrlPath(id) = ids(path)?;
    let trials = blocking(&s, move |t| t.told(id)).await?;
    Ok((StatusCode::OK, Json(trials)))
}

#[utoipa::path(post, path = "/experiments/{id}/ask", params(("id" = i64, Path, minimum = 1, maximum = 2147483647, example = 1)),
    responses((status = 200, body = AskAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn ask(
    State(s): State<Arc<Service>>,
    path: std::result::Result<UrlPath<i64>, PathRejection>,
) -> Answer<AskAnswer> {
    let UrlPath(id) = ids(path)?;
    let answer = blocking(&s, move |t| t.ask(id)).await?;
    Ok((StatusCode::OK, Json(answer)))
}

#[utoipa::path(post, path = "/experiments/{id}/trials/{trial}/report",
    params(("id" = i64, Path, minimum = 1, maximum = 2147483647, example = 1), ("trial" = u64, Path, minimum = 0, maximum = 2147483647, example = 0)), request_body = Report,
    responses((status = 200, body = Decision), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn report(
    State(s): State<Arc<Service>>,
    path: std::result::Result<UrlPath<(i64, usize)>, PathRejection>,
    payload: std::result::Result<Json<Report>, JsonRejection>,
) -> Answer<Decision> {
    let UrlPath((id, trial)) = ids(path)?;
    let report = body(payload)?;
    let decision = blocking(&s, move |t| t.report(id, trial, report)).await?;
    Ok((StatusCode::OK, Json(decision)))
}

#[utoipa::path(post, path = "/experiments/{id}/trials/{trial}/heartbeat",
    params(("id" = i64, Path, minimum = 1, maximum = 2147483647, example = 1), ("trial" = u64, Path, minimum = 0, maximum = 2147483647, example = 0)),
    responses((status = 200, body = Health), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn heartbeat(
    State(s): State<Arc<Service>>,
    path: std::result::Result<UrlPath<(i64, usize)>, PathRejection>,
) -> Answer<Health> {
    let UrlPath((id, trial)) = ids(path)?;
    blocking(&s, move |t| t.heartbeat(id, trial)).await?;
    Ok((
        StatusCode::OK,
        Json(Health {
            status: "ok".into(),
        }),
    ))
}

#[utoipa::path(post, path = "/experiments/{id}/trials/{trial}/tell",
    params(("id" = i64, Path, minimum = 1, maximum = 2147483647, example = 1), ("trial" = u64, Path, minimum = 0, maximum = 2147483647, example = 0)), request_body = Tell,
    responses((status = 200, body = Health), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn tell(
    State(s): State<Arc<Service>>,
    path: std::result::Result<UrlPath<(i64, usize)>, PathRejection>,
    payload: std::result::Result<Json<Tell>, JsonRejection>,
) -> Answer<Health> {
    let UrlPath((id, trial)) = ids(path)?;
    let told = body(payload)?;
    blocking(&s, move |t| t.tell(id, trial, told)).await?;
    Ok((
        StatusCode::OK,
        Json(Health {
            status: "ok".into(),
        }),
    ))
}

#[utoipa::path(post, path = "/experiments/{id}/stop", params(("id" = i64, Path, minimum = 1, maximum = 2147483647, example = 1)),
    responses((status = 200, body = Health), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn stop(
    State(s): State<Arc<Service>>,
    path: std::result::Result<UrlPath<i64>, PathRejection>,
) -> Answer<Health> {
    let UrlPath(id) = ids(path)?;
    blocking(&s, move |t| t.stop(id)).await?;
    Ok((
        StatusCode::OK,
        Json(Health {
            status: "ok".into(),
        }),
    ))
}

/// How long one events stream lasts before it ends (its client reconnects): under the
/// connection lifetime of the hardened shell.
const EVENTS_LIFETIME: std::time::Duration = std::time::Duration::from_secs(100);

/// Server-sent events: `change` (data: the service's change count) whenever an experiment
/// is created, a trial asked or told or an experiment stopped, so that a page refreshes at
/// once instead of polling; a comment every 15 s keeps the stream alive.
#[utoipa::path(get, path = "/events",
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "`event: change` with the change count as data, until the stream ends"),
        (status = 401, body = ErrorBody)))]
async fn events(
    State(s): State<Arc<Service>>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<
        Item = std::result::Result<axum::response::sse::Event, std::convert::Infallible>,
    >,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let ends = tokio::time::Instant::now() + EVENTS_LIFETIME;
    let stream = futures_util::stream::unfold(s.tuner.changes(), move |mut changes| async move {
        match tokio::time::timeout_at(ends, changes.changed()).await {
            Ok(Ok(())) => {
                let count = *changes.borrow_and_update();
                let event = Event::default().event("change").data(count.to_string());
                Some((Ok(event), changes))
            }
            _ => None,
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
}

#[utoipa::path(get, path = "/experiments/{id}/plots/{kind}",
    params(("id" = i64, Path, minimum = 1, maximum = 2147483647, example = 1),
        ("kind" = String, Path, example = "convergence",
            description = "convergence, curves, arms, workers, parallel or importance")),
    responses((status = 200, description = "The plot", content_type = "image/svg+xml", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn plot(
    State(s): State<Arc<Service>>,
    path: std::result::Result<UrlPath<(i64, String)>, PathRejection>,
) -> Result<Response, ServiceError> {
    let UrlPath((id, kind)) = ids(path)?;
    let svg = blocking(&s, move |t| t.plot(id, &kind)).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// The dashboard: one page, its script and style inline (no CDN, no build step), which
/// reads the API with the token from its URL fragment or a form.
const DASHBOARD: &str = include_str!("dashboard.html");

async fn dashboard() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        DASHBOARD,
    )
        .into_response()
}

async fn openapi(State(s): State<Arc<Service>>) -> Response {
    let mut document = ApiDoc::openapi();
    if s.tuner.is_read_only() {
        reading_routes_only(&mut document);
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.to_json().unwrap_or_default(),
    )
        .into_response()
}

/// Keeps in `document` only the operations a read-only view (`hpo dashboard`) serves: its
/// GET routes; a path left without any is dropped.
fn reading_routes_only(document: &mut utoipa::openapi::OpenApi) {
    document.paths.paths.retain(|_, item| {
        item.put = None;
        item.post = None;
        item.delete = None;
        item.options = None;
        item.head = None;
        item.patch = None;
        item.trace = None;
        item.get.is_some()
    });
}

async fn not_found() -> ServiceError {
    ServiceError::new(404, "no such route (see /openapi.json)")
}

/// Checks the bearer token, from the headers alone, when the store holds tokens.
async fn authenticate(
    State(s): State<Arc<Service>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    // The public routes: the health check, the API's description and the dashboard's page
    // (which holds no data: it reads the API with the user's token).
    if path == "/health" || path == "/openapi.json" || path == "/" {
        return next.run(request).await;
    }
    // The store's drivers block: off the async threads.
    let headers = request.headers().clone();
    let checked = tokio::task::spawn_blocking(move || authorized(&s.tokens, &headers)).await;
    match checked {
        Ok(Ok(())) => next.run(request).await,
        Ok(Err(e)) => e.into_response(),
        Err(e) => ServiceError::new(500, e.to_string()).into_response(),
    }
}

fn authorized(store: &Store, headers: &HeaderMap) -> Result<(), ServiceError> {
    let (guarded, digests) = store
        .token_state()
        .map_err(|e| ServiceError::new(500, e.to_string()))?;
    if !guarded {
        return Ok(());
    }
    let denied = || ServiceError::new(401, "missing or wrong token (Authorization: Bearer TOKEN)");
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (first, second) = (values.next(), values.next());
    if second.is_some() {
        return Err(ServiceError::new(400, "two Authorization headers"));
    }
    let value = first.and_then(|v| v.to_str().ok()).ok_or_else(denied)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(denied)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(denied());
    }
    let given = tokens::digest(token.trim());
    // Every token is compared, whichever matches.
    let matched = digests
        .iter()
        .fold(subtle::Choice::from(0), |any, d| any | d.ct_eq(&given));
    if bool::from(matched) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// The routes, behind authentication and the shared limits.
/// A read-only view (`hpo dashboard`) has the routes that read only.
fn app(service: Arc<Service>) -> axum::Router {
    let mut routes = axum::Router::new()
        .route("/", get(dashboard))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/experiments/{id}", get(get_experiment))
        .route("/experiments/{id}/trials", get(list_trials))
        .route("/experiments/{id}/plots/{kind}", get(plot))
        .route("/events", get(events));
    routes = if service.tuner.is_read_only() {
        routes.route("/experiments", get(list_experiments))
    } else {
        routes
            .route(
                "/experiments",
                get(list_experiments).post(create_experiment),
            )
            .route("/experiments/{id}/ask", post(ask))
            .route("/experiments/{id}/stop", post(stop))
            .route("/experiments/{id}/trials/{trial}/report", post(report))
            .route(
                "/experiments/{id}/trials/{trial}/heartbeat",
                post(heartbeat),
            )
            .route("/experiments/{id}/trials/{trial}/tell", post(tell))
    };
    let routes = routes
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            authenticate,
        ))
        .with_state(service);
    http::limited(routes)
}

/// Why the service cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `--listen` is not an address.
    #[error("--listen {listen}: {source}")]
    Address {
        /// The address given.
        listen: String,
        /// Why.
        source: std::io::Error,
    },
    /// Beyond the loopback without tokens or `--insecure`.
    #[error(
        "--listen {0} is reachable beyond this machine and the service has no token: create one with `hpo serve token create` (clients send it as Authorization: Bearer TOKEN), or pass --insecure"
    )]
    Exposed(String),
    /// The store cannot be read.
    #[error("{0}")]
    Store(String),
    /// The certificate or key cannot be used.
    #[error("{0}")]
    Tls(String),
    /// The address cannot be bound or served.
    #[error("cannot serve on {listen}: {source}")]
    Listen {
        /// The address.
        listen: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A bound service, ready to serve.
pub struct Server {
    listener: std::net::TcpListener,
    service: Arc<Service>,
    listen: String,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Server {
    /// Binds `listen` for `tuner` (whose directory holds the store and its tokens),
    /// refusing an address beyond the loopback without a token unless `insecure`; `tls`:
    /// a PEM certificate chain and key to serve HTTPS with.
    pub fn bind(
        listen: &str,
        tuner: Arc<Tuner>,
        store: &Location,
        insecure: bool,
        tls: Option<(&Path, &Path)>,
    ) -> Result<Self, ServeError> {
        let tls = tls
            .map(|(cert, key)| http::tls(cert, key))
            .transpose()
            .map_err(ServeError::Tls)?;
        let store = Store::connect(store).map_err(|e| ServeError::Store(e.to_string()))?;
        let has_tokens = store
            .has_tokens()
            .map_err(|e| ServeError::Store(e.to_string()))?;
        let exposed = http::exposed(listen).map_err(|source| ServeError::Address {
            listen: listen.into(),
            source,
        })?;
        if exposed && !has_tokens {
            if !insecure {
                return Err(ServeError::Exposed(listen.into()));
            }
            tracing::warn!(
                "serving {listen} without a token (--insecure): anyone who can reach it can drive experiments"
            );
        }
        let cannot = |source| ServeError::Listen {
            listen: listen.into(),
            source,
        };
        let listener = std::net::TcpListener::bind(listen).map_err(cannot)?;
        listener.set_nonblocking(true).map_err(cannot)?;
        Ok(Server {
            listener,
            service: Arc::new(Service {
                tuner,
                tokens: store,
            }),
            listen: listen.into(),
            tls,
        })
    }

    /// `https` with a certificate, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The address it listens on.
    pub fn address(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until the process ends.
    pub fn serve(self) -> Result<(), ServeError> {
        let cannot = |source| ServeError::Listen {
            listen: self.listen.clone(),
            source,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(cannot)?;
        runtime
            .block_on(http::serve(
                self.listener,
                app(self.service.clone()),
                "serve",
                self.tls,
            ))
            .map_err(cannot)
    }
}
