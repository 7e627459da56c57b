//! A hostile relay for the suite, on std threads: a transparent TCP relay between the client
//! and the `SimServer` that, when told, stops passing the server's WebSocket messages on the
//! newest connection and instead starts a Noise frame (a 3-byte length prefix announcing
//! 1 MiB) and trickles it one byte per WebSocket message. Only whole frames may count as life,
//! so the client must give up on that connection and reconnect (through the relay, which
//! passes later connections through untouched).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// One relayed connection: the writer towards the client (whole WebSocket messages are
/// written under its lock) and whether the relay has turned hostile on it.
#[derive(Clone)]
struct Conn {
    to_client: Arc<Mutex<TcpStream>>,
    hostile: Arc<AtomicBool>,
}

pub(crate) struct Relay {
    pub(crate) addr: SocketAddr,
    conns: Arc<Mutex<Vec<Conn>>>,
    every: Duration,
}

impl Relay {
    /// Relays every connection to `target`; a trickle sends one byte every `every`.
    pub(crate) fn start(target: SocketAddr, every: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let shared = Arc::clone(&conns);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let conn = Conn {
                    to_client: Arc::new(Mutex::new(client.try_clone().expect("clone"))),
                    hostile: Arc::default(),
                };
                shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(conn.clone());
                relay(client, server, conn);
            }
        });
        Self { addr, conns, every }
    }

    /// Turns the newest connection hostile: from now on it carries only the trickle.
    pub(crate) fn trickle_newest(&self) {
        let conn = self
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
            .expect("a connection to turn hostile");
        conn.hostile.store(true, Ordering::SeqCst);
        let every = self.every;
        thread::spawn(move || {
            // A frame header announcing 1 MiB, then a byte at a time, never the whole frame.
            let mut message: &[u8] = &[0x10, 0x00, 0x00];
            while send_ws(&conn.to_client, message).is_ok() {
                thread::sleep(every);
                message = &[0x2a];
            }
        });
    }
}

fn relay(client: TcpStream, server: TcpStream, conn: Conn) {
    let (mut from_client, mut to_server) = (client, server.try_clone().expect("clone"));
    thread::spawn(move || {
        let _ = io::copy(&mut from_client, &mut to_server);
        let _ = to_server.shutdown(Shutdown::Write);
    });
    thread::spawn(move || {
        let _ = server_to_client(server, &conn);
        if let Ok(c) = conn.to_client.lock() {
            let _ = c.shutdown(Shutdown::Both);
        }
    });
}

/// Passes the upgrade response, then the server's WebSocket messages one whole message at a
/// time, dropping them once the connection has turned hostile.
fn server_to_client(mut server: TcpStream, conn: &Conn) -> io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        server.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    write_locked(&conn.to_client, &head)?;
    loop {
        let message = read_ws_message(&mut server)?;
        if !conn.hostile.load(Ordering::SeqCst) {
            write_locked(&conn.to_client, &message)?;
        }
    }
}

/// One WebSocket message as it came (header, extended length, mask, payload).
fn read_ws_message(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; 2];
    r.read_exact(&mut out)?;
    let extended = match out[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let masked = out[1] & 0x80 != 0;
    let mut rest = vec![0u8; extended + if masked { 4 } else { 0 }];
    r.read_exact(&mut rest)?;
    let len = match extended {
        0 => u64::from(out[1] & 0x7f),
        n => rest[..n]
            .iter()
            .fold(0u64, |acc, b| acc << 8 | u64::from(*b)),
    };
    out.extend_from_slice(&rest);
    let len = usize::try_from(len).map_err(|_| io::Error::other("a message too large"))?;
    let start = out.len();
    out.resize(start + len, 0);
    r.read_exact(&mut out[start..])?;
    Ok(out)
}

/// Sends `payload` as one unmasked binary WebSocket message (what a server sends).
fn send_ws(to: &Mutex<TcpStream>, payload: &[u8]) -> io::Result<()> {
    let len = u8::try_from(payload.len()).expect("a short trickle message");
    let mut message = vec![0x82, len];
    message.extend_from_slice(payload);
    write_locked(to, &message)
}

fn write_locked(to: &Mutex<TcpStream>, bytes: &[u8]) -> io::Result<()> {
    let mut stream = to.lock().unwrap_or_else(PoisonError::into_inner);
    stream.write_all(bytes)
}
