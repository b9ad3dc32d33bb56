//! Static files (CSS, icons, and later the call page's JavaScript), embedded in the release binary
//! by rust-embed so that it runs from any directory and needs nothing from the internet.

use axum::{
    extract::Path,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use rust_embed::RustEmbed;

use crate::error::AppError;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

/// `GET /static/{path}`.
pub async fn serve(Path(path): Path<String>) -> Result<Response, AppError> {
    let file = Assets::get(&path).ok_or_else(AppError::not_found)?;
    let mime = file.metadata.mimetype().to_string();
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(response)
}
