//! Tiny blocking proxies for the suite, on std threads: an HTTP CONNECT proxy, a SOCKS5 proxy
//! (user/password auth) and a proxy that refuses every tunnel. They record the targets asked
//! for. (The `sw.js` of the version fetch is the `SimServer`'s own.)

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    HttpConnect,
    Socks5,
    Refusing,
}

#[derive(Default)]
struct Log {
    targets: Vec<String>,
    users: Vec<String>,
}

pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl Proxy {
    pub(crate) fn start(kind: Kind) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let log = Arc::new(Mutex::new(Log::default()));
        let shared = Arc::clone(&log);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = Arc::clone(&shared);
                thread::spawn(move || {
                    let _ = serve(kind, client, &log);
                });
            }
        });
        Self { addr, log }
    }

    /// The `host:port` of every tunnel asked for, in order.
    pub(crate) fn targets(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .targets
            .clone()
    }

    /// The `user:password` of every SOCKS5 authentication.
    pub(crate) fn users(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .users
            .clone()
    }
}

fn serve(kind: Kind, mut client: TcpStream, log: &Mutex<Log>) -> io::Result<()> {
    let target = match kind {
        Kind::Socks5 => socks5_handshake(&mut client, log)?,
        Kind::HttpConnect | Kind::Refusing => {
            let mut head = Vec::new();
            let mut byte = [0; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                client.read_exact(&mut byte)?;
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head);
            let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
            if matches!(kind, Kind::Refusing) || !head.starts_with("CONNECT ") {
                client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")?;
                return Ok(());
            }
            target
        }
    };
    let upstream = TcpStream::connect(&target)?;
    if matches!(kind, Kind::HttpConnect) {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    } else {
        client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
    }
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .targets
        .push(target);
    pipe(client, upstream)
}

/// RFC 1928/1929: username/password method, CONNECT to an IPv4 address or a name.
fn socks5_handshake(client: &mut TcpStream, log: &Mutex<Log>) -> io::Result<String> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut head = [0; 2];
    client.read_exact(&mut head)?;
    let mut methods = vec![0; usize::from(head[1])];
    client.read_exact(&mut methods)?;
    if head[0] != 5 || !methods.contains(&2) {
        client.write_all(&[5, 0xff])?;
        return Err(bad("no username/password method offered"));
    }
    client.write_all(&[5, 2])?;
    let mut ver_len = [0; 2];
    client.read_exact(&mut ver_len)?;
    let mut user = vec![0; usize::from(ver_len[1])];
    client.read_exact(&mut user)?;
    let mut len = [0; 1];
    client.read_exact(&mut len)?;
    let mut pass = vec![0; usize::from(len[0])];
    client.read_exact(&mut pass)?;
    let credentials = format!(
        "{}:{}",
        String::from_utf8_lossy(&user),
        String::from_utf8_lossy(&pass)
    );
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .users
        .push(credentials);
    client.write_all(&[1, 0])?;
    let mut request = [0; 4];
    client.read_exact(&mut request)?;
    let host = match request[3] {
        1 => {
            let mut ip = [0; 4];
            client.read_exact(&mut ip)?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            client.read_exact(&mut len)?;
            let mut name = vec![0; usize::from(len[0])];
            client.read_exact(&mut name)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return Err(bad("unsupported address type")),
    };
    let mut port = [0; 2];
    client.read_exact(&mut port)?;
    Ok(format!("{host}:{}", u16::from_be_bytes(port)))
}

/// Copies both ways until either side ends.
fn pipe(client: TcpStream, upstream: TcpStream) -> io::Result<()> {
    let (mut c_read, mut u_write) = (client.try_clone()?, upstream.try_clone()?);
    let up = thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(Shutdown::Write);
    });
    let (mut u_read, mut c_write) = (upstream, client);
    let _ = io::copy(&mut u_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}
