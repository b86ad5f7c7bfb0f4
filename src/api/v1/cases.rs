use utoipa_axum::router::OpenApiRouter;
use crate::api::AppState;
pub(super) fn routes() -> OpenApiRouter<AppState> { OpenApiRouter::new() }
