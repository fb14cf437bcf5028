//! A Bot API call's parameters, read from wherever Telegram accepts them: the query string and a JSON,
//! form-urlencoded or multipart body.
//!
//! Outside JSON every value arrives as a string, with objects JSON-encoded (`reply_markup`); they are
//! decoded here so that the recorded parameters look alike whichever way a client sent them.

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};

use super::api_error::ApiError;

pub(super) type Params = Map<String, Value>;

/// The bytes of the files a call uploaded, by the parameter they stand under (`document`).
pub(super) type Uploads = HashMap<String, Vec<u8>>;

/// Telegram's own upload limit for bots.
pub(super) const MAX_BODY: usize = 50 * 1024 * 1024;

/// Parameters that are integers in the Bot API; outside JSON they are decoded as numbers.
const INTEGER_KEYS: &[&str] = &["chat_id", "message_id", "offset", "limit", "timeout", "user_id", "cache_time"];

pub(super) async fn read(request: Request) -> Result<(Params, Uploads), ApiError> {
    let mut params = Params::new();
    if let Some(query) = request.uri().query() {
        insert_pairs(&mut params, url::form_urlencoded::parse(query.as_bytes()));
    }
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &())
            .await
            .map_err(|_| ApiError::bad_request("Bad Request: can't parse multipart/form-data body"))?;
        let uploads = read_multipart(multipart, &mut params).await?;
        return Ok((params, uploads));
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| ApiError::new(413, "Request Entity Too Large"))?;
    if body.is_empty() {
        return Ok((params, Uploads::new()));
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        insert_pairs(&mut params, url::form_urlencoded::parse(&body));
    } else {
        match serde_json::from_slice(&body) {
            Ok(Value::Object(map)) => params.extend(map),
            _ => return Err(ApiError::bad_request("Bad Request: can't parse JSON object in the request body")),
        }
    }
    Ok((params, Uploads::new()))
}

fn insert_pairs<'a>(
    params: &mut Params,
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) {
    for (key, value) in pairs {
        let value = decode(&key, value.into_owned());
        params.insert(key.into_owned(), value);
    }
}

fn decode(key: &str, value: String) -> Value {
    if INTEGER_KEYS.contains(&key)
        && let Ok(number) = value.parse::<i64>()
    {
        return json!(number);
    }
    if value.starts_with(['{', '['])
        && let Ok(decoded) = serde_json::from_str(&value)
    {
        return decoded;
    }
    Value::String(value)
}

/// Reads every part; file parts stand in the parameters as `{"file_name", "size"}` (so the request log
/// stays small and readable), either under their own name or where a field says `attach://<part>`, and
/// their bytes are returned under the same name, for tests that read what a bot sent.
async fn read_multipart(mut multipart: Multipart, params: &mut Params) -> Result<Uploads, ApiError> {
    let unreadable = |_| ApiError::bad_request("Bad Request: can't parse multipart/form-data body");
    let mut files: HashMap<String, (Value, Vec<u8>)> = HashMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let mut bytes = Vec::new();
        let mut size = 0;
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            size += chunk.len();
            bytes.extend_from_slice(&chunk);
        }
        match file_name {
            None => match String::from_utf8(bytes) {
                Ok(text) => {
                    params.insert(name.clone(), decode(&name, text));
                }
                Err(e) => {
                    let stand_in = json!({ "file_name": "", "size": size });
                    files.insert(name, (stand_in, e.into_bytes()));
                }
            },
            Some(file_name) => {
                files.insert(name, (json!({ "file_name": file_name, "size": size }), bytes));
            }
        }
    }
    let mut uploads = Uploads::new();
    for (key, value) in params.iter_mut() {
        if let Some(part) = value.as_str().and_then(|s| s.strip_prefix("attach://"))
            && let Some((file, bytes)) = files.remove(part)
        {
            *value = file;
            uploads.insert(key.clone(), bytes);
        }
    }
    for (name, (file, bytes)) in files {
        params.entry(name.clone()).or_insert(file);
        uploads.entry(name).or_insert(bytes);
    }
    Ok(uploads)
}

/// An integer parameter; Telegram also takes one written as a string.
pub(super) fn integer(params: &Params, key: &str) -> Result<Option<i64>, ApiError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| invalid(key)),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid(key)),
        Some(_) => Err(invalid(key)),
    }
}

pub(super) fn required_integer(params: &Params, key: &str) -> Result<i64, ApiError> {
    integer(params, key)?.ok_or_else(|| ApiError::bad_request(format!("Bad Request: {key} is empty")))
}

/// A string parameter; numbers and booleans are taken as their text, as Telegram does.
pub(super) fn text(params: &Params, key: &str) -> Option<String> {
    match params.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An object or array parameter, possibly JSON-encoded in a string.
pub(super) fn object(params: &Params, key: &str) -> Result<Option<Value>, ApiError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| invalid(key)),
        Some(value) => Ok(Some(value.clone())),
    }
}

pub(super) fn flag(params: &Params, key: &str) -> bool {
    match params.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

fn invalid(key: &str) -> ApiError {
    ApiError::bad_request(format!("Bad Request: invalid {key} specified"))
}
