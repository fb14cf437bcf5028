//! A stand-in HTTP endpoint on 127.0.0.1, for checks that only need something to answer (or not).

use std::io::{Read, Write};
use std::net::TcpListener;

use botctl::telegram::emulator::Emulator;

/// Answers every request as a Bot API answers a token it does not know (401, Telegram's JSON), on a
/// random loopback port, until the test process ends.
pub fn answering() -> String {
    serving(b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 58\r\nconnection: close\r\n\r\n{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}")
}

/// Answers every request with an empty 404, as a web server at a wrong Bot API URL does.
pub fn not_found() -> String {
    serving(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

fn serving(response: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response);
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

/// botctl's Bot API emulator, knowing these bots (`getMe` answers for their tokens, 401 for any other).
/// It lives as long as the test process.
pub fn bot_api(bots: &[(&str, i64, &str)]) -> String {
    emulator(bots).url().to_string()
}

/// The same, as a handle for driving conversations.
pub fn emulator(bots: &[(&str, i64, &str)]) -> Emulator {
    static RUNNING: std::sync::Mutex<Vec<Emulator>> = std::sync::Mutex::new(Vec::new());
    let emulator = super::block_on(Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
    for (token, id, username) in bots {
        emulator.add_bot(token, *id, username);
    }
    RUNNING.lock().unwrap().push(emulator.clone());
    emulator
}
