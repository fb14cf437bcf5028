//! A stand-in HTTP endpoint on 127.0.0.1, for checks that only need something to answer (or not).

use std::io::{Read, Write};
use std::net::TcpListener;

/// Answers every request with 404 on a random loopback port, until the test process ends.
pub fn answering() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    url
}

/// Accepts connections and never answers: a request to it hangs until the client gives up.
pub fn silent() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// A loopback port with nothing listening: connections are refused at once.
pub fn refused() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A minimal Bot API that knows these bots: `getMe` answers for their tokens and 401 for any other.
/// (botctl's own emulator replaces it once `botctl serve` exists.)
pub fn bot_api(bots: &[(&str, i64, &str)]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let bots: Vec<(String, i64, String)> = bots.iter().map(|(t, i, u)| (t.to_string(), *i, u.to_string())).collect();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or_default().to_string();
            let known = bots.iter().find(|(token, _, _)| path.eq_ignore_ascii_case(&format!("/bot{token}/getMe")));
            let (status, body) = match known {
                Some((_, id, username)) => (
                    "200 OK",
                    format!(
                        r#"{{"ok":true,"result":{{"id":{id},"is_bot":true,"first_name":"Test","username":"{username}"}}}}"#
                    ),
                ),
                None => {
                    ("401 Unauthorized", r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.to_string())
                }
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}
