//! hyper answers a request it cannot parse (a garbage request line, two
//! `Content-Length` headers, a head past the read buffer, an unknown HTTP
//! version) itself, before any route runs, with a status and no body. The
//! contract has every error in the JSON shape, so the connection's stream
//! gives such an answer the body here: hyper's own error answers are the only
//! error answers with `content-length: 0` (the service's errors all carry a
//! JSON body), and each is written whole in one write before the connection
//! closes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest head hyper writes for its own error answers (a status line,
/// `connection: close`, `content-length: 0` and a date).
const MAX_BARE_HEAD: usize = 256;

/// A connection's stream that writes hyper's bodiless error answers with an
/// error body of the contract's shape.
pub struct FrameworkErrors<T> {
    inner: T,
    /// The answer written instead of one of hyper's, what is left of it to
    /// write, and the length of the bytes it replaces.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> FrameworkErrors<T> {
    pub fn new(inner: T) -> FrameworkErrors<T> {
        FrameworkErrors { inner, replacing: None }
    }
}

/// The answer to write instead of `head`, when `head` is the whole of one of
/// hyper's own error answers.
fn with_error_body(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > MAX_BARE_HEAD || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.trim_end_matches("\r\n").split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    if !(400..600).contains(&status) {
        return None;
    }
    let headers: Vec<&str> = lines.collect();
    let is = |line: &&str, name: &str, value: &str| {
        line.split_once(':').is_some_and(|(n, v)| n.eq_ignore_ascii_case(name) && v.trim() == value)
    };
    if !headers.iter().any(|line| is(line, "content-length", "0")) {
        return None;
    }
    let (code, message) = match status {
        431 => (
            "bad_request",
            &*format!(
                "the request's head (its line and headers) is larger than {} KiB",
                crate::serve::CONNECTION_READ_BUFFER >> 10
            ),
        ),
        414 => ("bad_request", "the request's target is too long"),
        505 => ("bad_request", "the request's HTTP version is not supported: this server speaks HTTP/1.1"),
        408 => ("request_timeout", "the request's head did not arrive in time"),
        status if status >= 500 => ("internal", "the server could not answer this request"),
        _ => (
            "bad_request",
            "the request is not valid HTTP/1.1 (its request line, or its headers: a repeated or malformed \
             Content-Length, a bad Transfer-Encoding, a header that is not `name: value`)",
        ),
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let mut answer = format!("{status_line}\r\n");
    for line in headers.iter().filter(|line| !is(line, "content-length", "0")) {
        answer.push_str(line);
        answer.push_str("\r\n");
    }
    answer.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()));
    Some(answer.into_bytes())
}

impl<T: AsyncWrite + Unpin> FrameworkErrors<T> {
    /// Writes what is left of a replacement; `Ready(Ok(n))` with the length
    /// of what it replaced once it is all out.
    fn poll_replacing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((answer, written, replaces)) = &mut self.replacing {
            if *written == answer.len() {
                let replaces = *replaces;
                self.replacing = None;
                return Poll::Ready(Ok(replaces));
            }
            match Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                other => return other,
            }
        }
        Poll::Ready(Ok(0))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FrameworkErrors<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FrameworkErrors<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            match with_error_body(buf) {
                Some(answer) => this.replacing = Some((answer, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        this.poll_replacing(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            let len: usize = bufs.iter().map(|buf| buf.len()).sum();
            // Most writes are told apart without copying: too long, not an
            // error status, or not ending where a head ends.
            let error_status = bufs
                .iter()
                .find(|buf| !buf.is_empty())
                .is_some_and(|first| first.starts_with(b"HTTP/1.1 4") || first.starts_with(b"HTTP/1.1 5"));
            let ends_head =
                bufs.iter().rev().find(|buf| !buf.is_empty()).is_some_and(|last| last.ends_with(b"\r\n\r\n"));
            let answer = (len <= MAX_BARE_HEAD && error_status && ends_head)
                .then(|| with_error_body(&bufs.iter().flat_map(|buf| buf.iter().copied()).collect::<Vec<u8>>()))
                .flatten();
            match answer {
                Some(answer) => this.replacing = Some((answer, 0, len)),
                None => return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
            }
        }
        this.poll_replacing(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_error_answer_gets_a_json_body_and_keeps_its_status_and_headers() {
        let bare = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 14:03:57 GMT\r\n\r\n";
        let answer = String::from_utf8(with_error_body(bare).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains("\r\nconnection: close\r\n") && head.contains("\r\ndate: Thu, 03 Dec 2026"));
        assert!(head.contains(&format!("content-length: {}", body.len())) && !head.contains("content-length: 0"));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "bad_request");
    }

    #[test]
    fn answers_with_a_body_or_a_success_are_left_alone() {
        assert!(with_error_body(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 30\r\n\r\n").is_none());
        assert!(with_error_body(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(with_error_body(b"HTTP/1.1 204 No Content\r\n\r\n").is_none());
        assert!(with_error_body(b"{\"error\":").is_none());
    }

    #[tokio::test]
    async fn a_replacement_written_a_byte_at_a_time_reports_the_replaced_length() {
        use tokio::io::AsyncWriteExt;
        let (client, mut server) = tokio::io::duplex(1);
        let mut stream = FrameworkErrors::new(client);
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut server, &mut got).await.unwrap();
            got
        });
        stream.write_all(bare).await.unwrap();
        stream.shutdown().await.unwrap();
        drop(stream);
        let got = String::from_utf8(reader.await.unwrap()).unwrap();
        assert!(got.starts_with("HTTP/1.1 431 "), "{got}");
        assert!(got.ends_with("}"), "{got}");
        assert!(got.contains("\"code\":\"bad_request\""), "{got}");
    }
}
