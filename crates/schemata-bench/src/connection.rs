//! One HTTP/1.1 keep-alive connection that sends pre-built request bytes and parses the answer
//! in place: one request at a time, no allocation per request once its buffers have grown.
//! A full client would cost the generator several times the CPU per request, and the generator
//! shares the machine with the server it measures.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most headers a response may carry (axum's answers have four or five).
const MAX_HEADERS: usize = 32;

/// What the generator keeps of a response; the body stays in [`Connection::body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body_len: usize,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

pub struct Connection {
    stream: TcpStream,
    /// Bytes read from the socket; `buf[start..end]` is not consumed yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last response's body, decoded (chunked encoding removed).
    body: Vec<u8>,
    /// The server said `Connection: close`, or the body ran to end of stream.
    closed: bool,
}

/// How the length of a response body is known.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Connection {
    pub async fn connect(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        // Requests are written whole; Nagle would only hold the last segment back.
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
            body: Vec::with_capacity(16 * 1024),
            closed: false,
        })
    }

    /// The body of the last response.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// False once the server closed the connection (or announced it would): open a new one.
    pub fn reusable(&self) -> bool {
        !self.closed
    }

    /// Writes one complete request (head and body) and reads its response.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<Response> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection closed by the server",
            ));
        }
        self.stream.write_all(request).await?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> io::Result<Response> {
        let (status, framing, head_len, close) = loop {
            if let Some(head) = self.parse_head()? {
                break head;
            }
            self.fill().await?;
        };
        self.start += head_len;
        self.closed = close;
        self.body.clear();
        match framing {
            Framing::Length(len) => self.read_exact_body(len).await?,
            Framing::Chunked => self.read_chunked_body().await?,
            Framing::UntilClose => {
                loop {
                    self.take_buffered(usize::MAX);
                    if !self.fill_or_eof().await? {
                        break;
                    }
                }
                self.closed = true;
            }
        }
        Ok(Response {
            status,
            body_len: self.body.len(),
        })
    }

    /// Parses a complete response head at `buf[start..end]`, or `None` if more bytes are needed.
    fn parse_head(&mut self) -> io::Result<Option<(u16, Framing, usize, bool)>> {
        // Interim responses (100 Continue) carry no body: skip them.
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            let head_len = match response.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(invalid(format!("bad response head: {e}"))),
            };
            let status = response.code.unwrap_or(0);
            if (100..200).contains(&status) {
                self.start += head_len;
                continue;
            }
            let mut framing = None;
            let mut close = response.version == Some(0);
            for h in response.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    let len = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| invalid("bad Content-Length"))?;
                    framing = Some(Framing::Length(len));
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    if h.value.eq_ignore_ascii_case(b"chunked") {
                        framing = Some(Framing::Chunked);
                    }
                } else if h.name.eq_ignore_ascii_case("connection") {
                    close = h.value.eq_ignore_ascii_case(b"close");
                }
            }
            let framing = match framing {
                Some(f) => f,
                None if status == 204 || status == 304 => Framing::Length(0),
                None => Framing::UntilClose,
            };
            return Ok(Some((status, framing, head_len, close)));
        }
    }

    async fn read_exact_body(&mut self, mut len: usize) -> io::Result<()> {
        loop {
            len -= self.take_buffered(len);
            if len == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    async fn read_chunked_body(&mut self) -> io::Result<()> {
        loop {
            let size_line = self.line().await?;
            let size_text = std::str::from_utf8(&self.buf[size_line.clone()])
                .map_err(|_| invalid("bad chunk size"))?;
            // Chunk extensions (`;name=value`) are allowed and ignored.
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailer fields, then the empty line that ends the message.
                while !self.line().await?.is_empty() {}
                return Ok(());
            }
            self.read_exact_body(size).await?;
            if !self.line().await?.is_empty() {
                return Err(invalid("chunk not followed by CRLF"));
            }
        }
    }

    /// The next CRLF-terminated line (its range in `buf`, without CRLF), consumed.
    async fn line(&mut self) -> io::Result<std::ops::Range<usize>> {
        loop {
            if let Some(pos) = self.buf[self.start..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                let range = self.start..self.start + pos;
                self.start += pos + 2;
                return Ok(range);
            }
            self.fill().await?;
        }
    }

    /// Moves up to `max` buffered bytes into the body; returns how many.
    fn take_buffered(&mut self, max: usize) -> usize {
        let n = max.min(self.end - self.start);
        self.body
            .extend_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        n
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.fill_or_eof().await? {
            Ok(())
        } else {
            self.closed = true;
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection mid-response",
            ))
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill_or_eof(&mut self) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // A head larger than the buffer: grow it (rare; kept afterwards).
            let len = self.buf.len() * 2;
            self.buf.resize(len, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n > 0)
    }
}
