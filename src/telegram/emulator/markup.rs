//! `reply_markup` of a message a bot sends or edits, checked as Telegram checks it.

use serde_json::Value;

use super::api_error::ApiError;
use super::params::{self, Params};

/// `reply_markup`, checked as Telegram checks it; an empty inline keyboard is no keyboard.
pub(super) fn reply_markup(p: &Params, inline_only: bool) -> Result<Option<Value>, ApiError> {
    let Some(markup) = params::object(p, "reply_markup")? else { return Ok(None) };
    let unparsable = || ApiError::bad_request("Bad Request: can't parse reply keyboard markup JSON object");
    let rows = |key: &str| -> Result<Option<Vec<Value>>, ApiError> {
        let Some(rows) = markup.get(key) else { return Ok(None) };
        let rows = rows.as_array().ok_or_else(unparsable)?;
        let buttons: Option<Vec<Vec<Value>>> = rows.iter().map(|row| row.as_array().cloned()).collect();
        Ok(Some(buttons.ok_or_else(unparsable)?.into_iter().flatten().collect()))
    };
    if let Some(buttons) = rows("inline_keyboard")? {
        for button in &buttons {
            check_inline_button(button)?;
        }
        return Ok((!buttons.is_empty()).then_some(markup));
    }
    if inline_only {
        return Err(ApiError::bad_request("Bad Request: inline keyboard expected"));
    }
    if let Some(buttons) = rows("keyboard")? {
        let has_text = |b: &Value| b.is_string() || b.get("text").is_some_and(Value::is_string);
        return if buttons.iter().all(has_text) { Ok(Some(markup)) } else { Err(unparsable()) };
    }
    let set = |key: &str| markup.get(key).and_then(Value::as_bool) == Some(true);
    if set("remove_keyboard") || set("force_reply") { Ok(Some(markup)) } else { Err(unparsable()) }
}

fn check_inline_button(button: &Value) -> Result<(), ApiError> {
    const ACTIONS: &[&str] = &[
        "callback_data",
        "url",
        "login_url",
        "web_app",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ];
    if !button.get("text").is_some_and(Value::is_string) {
        return Err(ApiError::bad_request("Bad Request: can't parse inline keyboard button: Text must be a String"));
    }
    if let Some(data) = button.get("callback_data") {
        // Telegram's limit is 1-64 bytes, the reason botctl formats callback data in one place.
        let len = data.as_str().map_or(0, str::len);
        if !(1..=64).contains(&len) {
            return Err(ApiError::bad_request("Bad Request: BUTTON_DATA_INVALID"));
        }
    }
    if !ACTIONS.iter().any(|action| button.get(action).is_some()) {
        return Err(ApiError::bad_request(
            "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
        ));
    }
    Ok(())
}
