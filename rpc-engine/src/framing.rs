//! How messages are cut from a byte stream and written back to one: a [`Framing`] per connection.
//!
//! MessagePack values delimit themselves, so MessagePack-RPC brings a [`Decoder`] of its own; text encodings
//! use one of the engine's framings: one message per line ([`Framing::lines`], what most socket peers of
//! JSON-RPC send) or LSP's `Content-Length: N\r\n\r\n` header ([`Framing::content_length`], what language
//! servers and editors speak on stdio), or either, told apart by each connection's first byte
//! ([`Framing::detect`], for servers).
//!
//! Every framing takes the largest message it accepts: a message that declares a larger size (or a line that
//! grows past it) breaks the stream ([`Broken`]) before anything more is buffered for it.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use rpc_core::Fault;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::protocol::RequestId;

/// Reads into an empty buffer go through this much stack first.
const PROBE: usize = 4096;
/// Reads ask for at least this much room in the read buffer.
const READ_CHUNK: usize = 16 * 1024;
/// Small messages queued together are gathered into writes of up to this size.
const WRITE_BUFFER: usize = 64 * 1024;
/// The most header bytes an LSP-framed message may have before its body.
pub const MAX_HEADER_SIZE: usize = 8 * 1024;

/// Cuts whole messages from the bytes read so far, as tokio-util's `Decoder` does: `Ok(None)` asks for more
/// bytes (without parsing again what was scanned), `Err` means the stream cannot be read further.
pub trait Decoder: Send + 'static {
    /// The next whole message at the front of `buf`, taken out of it.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, Broken>;
}

/// Bytes that break a stream's framing: the connection is closed, after an error reply when there is one
/// ([`id`](Broken::id) readable, or the encoding answers without ids).
#[derive(Debug)]
pub struct Broken {
    /// What is wrong, for the log and for the reason the connection closed.
    pub reason: String,
    /// The fault the peer is answered with.
    pub fault: Fault,
    /// The id of the request the bad bytes were in, where it could be read.
    pub id: Option<RequestId>,
}

/// How a connection's messages are cut and written.
pub struct Framing {
    kind: Kind,
}

enum Kind {
    /// Messages delimit themselves; the encoding's decoder cuts them, and they are written as they are.
    Delimited(Box<dyn Decoder>),
    Lines {
        max: usize,
    },
    ContentLength {
        max: usize,
    },
    Detect {
        max: usize,
    },
}

impl Framing {
    /// Messages that delimit themselves (MessagePack values), cut by `decoder` and written as they are.
    pub fn delimited(decoder: impl Decoder) -> Framing {
        Framing { kind: Kind::Delimited(Box::new(decoder)) }
    }

    /// One message per line, ended by `\n` (a `\r` before it is dropped; blank lines are skipped); lines of
    /// up to `max_message_size` bytes.
    pub fn lines(max_message_size: usize) -> Framing {
        Framing { kind: Kind::Lines { max: max_message_size } }
    }

    /// LSP's base protocol: `Content-Length: N\r\n` (and any other header lines, ignored) then `\r\n`, then N
    /// bytes of message; bodies of up to `max_message_size` bytes.
    pub fn content_length(max_message_size: usize) -> Framing {
        Framing { kind: Kind::ContentLength { max: max_message_size } }
    }

    /// [`lines`](Framing::lines) or [`content_length`](Framing::content_length), from the first byte the peer
    /// sends (blank lines skipped): `C` or `c` starts a header (`Content-Length`, `Content-Type`), which no JSON
    /// text does; anything else is a line (garbage included, which then gets its parse error). Answers go out
    /// framed the same way.
    pub fn detect(max_message_size: usize) -> Framing {
        Framing { kind: Kind::Detect { max: max_message_size } }
    }

    /// The framing's name, for logs.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Delimited(_) => "self-delimited",
            Kind::Lines { .. } => "newline-delimited",
            Kind::ContentLength { .. } => "Content-Length",
            Kind::Detect { .. } => "detected",
        }
    }
}

impl fmt::Debug for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How messages are written: as they are, with `\n` after, or with a `Content-Length` header before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Envelope {
    Bare = 0,
    Line = 1,
    Header = 2,
}

impl Envelope {
    fn from_u8(n: u8) -> Envelope {
        match n {
            1 => Envelope::Line,
            2 => Envelope::Header,
            _ => Envelope::Bare,
        }
    }
}

/// The read side of a framed connection: bytes read so far and what cuts messages from them.
pub trait FrameRead: Send {
    /// The next whole message already read, if any.
    fn next_frame(&mut self) -> Result<Option<Bytes>, Broken>;

    /// Reads more; `Ok(0)` at the end of the input. Cancel-safe: dropped before it is ready, it loses nothing.
    fn read(&mut self) -> impl Future<Output = io::Result<usize>> + Send;

    /// How many bytes of an unfinished message are held.
    fn partial(&self) -> usize;
}

/// The write side of a framed connection.
pub trait FrameWrite: Send {
    /// Writes one message; `more` says another follows at once (small ones may then be gathered into one write).
    fn write(&mut self, frame: Bytes, more: bool) -> impl Future<Output = io::Result<()>> + Send;

    /// Flushes what was written.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// Flushes, then closes the write side.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// How often the connection wants a keep-alive sent while nothing is written (`None`: never).
    fn keepalive(&self) -> Option<std::time::Duration> {
        None
    }

    /// Sends a keep-alive (a WebSocket ping).
    fn ping(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }
}

/// A byte stream's halves framed by `framing`: the reader cuts messages, the writer frames them the same way
/// (with [`Framing::detect`], the way the reader found).
pub fn stream<R, W>(reader: R, writer: W, framing: Framing) -> (StreamReader<R>, StreamWriter<W>) {
    stream_with_input(reader, writer, framing, BytesMut::new())
}

/// As [`stream`], with `input` already read from the stream.
pub fn stream_with_input<R, W>(
    reader: R,
    writer: W,
    framing: Framing,
    input: BytesMut,
) -> (StreamReader<R>, StreamWriter<W>) {
    let envelope = Arc::new(AtomicU8::new(match framing.kind {
        Kind::Delimited(_) | Kind::Detect { .. } => Envelope::Bare as u8,
        Kind::Lines { .. } => Envelope::Line as u8,
        Kind::ContentLength { .. } => Envelope::Header as u8,
    }));
    let cut = match framing.kind {
        Kind::Delimited(decoder) => Cut::Delimited(decoder),
        Kind::Lines { max } => Cut::Lines { max, scanned: 0 },
        Kind::ContentLength { max } => Cut::Header { max, body: None },
        Kind::Detect { max } => Cut::Detect { max },
    };
    let reader = StreamReader { reader, buf: input, cut, envelope: envelope.clone() };
    (reader, StreamWriter { writer, gathered: BytesMut::new(), envelope })
}

/// The read half of a framed byte stream.
pub struct StreamReader<R> {
    reader: R,
    /// Grown when bytes are read, and released while the connection waits between messages.
    buf: BytesMut,
    cut: Cut,
    /// How the writer frames messages: set here once [`Framing::detect`] has seen the first byte.
    envelope: Arc<AtomicU8>,
}

enum Cut {
    Delimited(Box<dyn Decoder>),
    /// `scanned`: bytes of the current line already searched for its end.
    Lines {
        max: usize,
        scanned: usize,
    },
    /// `body`: the length of the body whose header has been read.
    Header {
        max: usize,
        body: Option<usize>,
    },
    Detect {
        max: usize,
    },
}

impl<R> fmt::Debug for StreamReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader").field("buffered", &self.buf.len()).finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin + Send> FrameRead for StreamReader<R> {
    fn next_frame(&mut self) -> Result<Option<Bytes>, Broken> {
        loop {
            return match &mut self.cut {
                Cut::Delimited(decoder) => Ok(decoder.decode(&mut self.buf)?.map(BytesMut::freeze)),
                Cut::Lines { max, scanned } => {
                    let Some(line) = cut_line(&mut self.buf, *max, scanned)? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        continue;
                    }
                    Ok(Some(line))
                }
                Cut::Header { max, body } => cut_with_header(&mut self.buf, *max, body),
                Cut::Detect { max } => {
                    let Some(&first) = self.buf.iter().find(|b| !b.is_ascii_whitespace()) else {
                        // Nothing but blank lines yet: keep none of them.
                        self.buf.clear();
                        return Ok(None);
                    };
                    let max = *max;
                    let (cut, envelope) = if first.eq_ignore_ascii_case(&b'c') {
                        (Cut::Header { max, body: None }, Envelope::Header)
                    } else {
                        (Cut::Lines { max, scanned: 0 }, Envelope::Line)
                    };
                    tracing::debug!(framing = ?envelope, "framing detected from the first byte");
                    self.envelope.store(envelope as u8, Ordering::Release);
                    self.cut = cut;
                    continue;
                }
            };
        }
    }

    fn read(&mut self) -> impl Future<Output = io::Result<usize>> + Send {
        read_some(&mut self.reader, &mut self.buf)
    }

    fn partial(&self) -> usize {
        self.buf.len()
    }
}

/// The next line of `buf` (without its `\n`, and a `\r` before it), taken out of it.
fn cut_line(buf: &mut BytesMut, max: usize, scanned: &mut usize) -> Result<Option<Bytes>, Broken> {
    let from = (*scanned).min(buf.len());
    match buf[from..].iter().position(|&b| b == b'\n') {
        Some(at) => {
            let end = from + at;
            *scanned = 0;
            let mut line = if end + 1 == buf.len() { std::mem::take(buf) } else { buf.split_to(end + 1) };
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            if line.len() > max {
                return Err(too_large(line.len(), max));
            }
            Ok(Some(line.freeze()))
        }
        None if buf.len() > max => Err(too_large(buf.len(), max)),
        None => {
            *scanned = buf.len();
            Ok(None)
        }
    }
}

/// The next LSP-framed body of `buf`, taken out of it.
fn cut_with_header(buf: &mut BytesMut, max: usize, body: &mut Option<usize>) -> Result<Option<Bytes>, Broken> {
    if body.is_none() {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if buf.len() > MAX_HEADER_SIZE {
                return Err(broken(format!("a message header longer than {MAX_HEADER_SIZE} bytes")));
            }
            return Ok(None);
        };
        if end > MAX_HEADER_SIZE {
            return Err(broken(format!("a message header longer than {MAX_HEADER_SIZE} bytes")));
        }
        let header =
            std::str::from_utf8(&buf[..end]).map_err(|_| broken("a message header that is not text".into()))?;
        let mut length = None;
        for line in header.split("\r\n") {
            let (name, value) = line.split_once(':').ok_or_else(|| broken(format!("a header line {line:?}")))?;
            if name.trim().eq_ignore_ascii_case("content-length") {
                let value = value.trim();
                let n: u64 = value.parse().map_err(|_| broken(format!("a Content-Length of {value:?}")))?;
                if n > max as u64 {
                    return Err(too_large_declared(n, max));
                }
                length = Some(n as usize);
            }
        }
        let length = length.ok_or_else(|| broken("a message header without Content-Length".into()))?;
        buf.advance(end + 4);
        *body = Some(length);
    }
    let Some(length) = *body else { return Ok(None) };
    if buf.len() < length {
        buf.reserve(length - buf.len());
        return Ok(None);
    }
    *body = None;
    Ok(Some(if length == buf.len() { std::mem::take(buf) } else { buf.split_to(length) }.freeze()))
}

fn broken(reason: String) -> Broken {
    let fault = Fault::invalid_request(&reason);
    Broken { reason, fault, id: None }
}

fn too_large(at_least: usize, max: usize) -> Broken {
    too_large_declared(at_least as u64, max)
}

fn too_large_declared(at_least: u64, max: usize) -> Broken {
    broken(format!("message of at least {at_least} bytes is over the limit of {max} bytes"))
}

/// Reads what is available into `buf`, making room for 16 KiB first. While nothing has arrived
/// and `buf` holds no part of a message, its memory is released: an idle connection holds no read buffer.
pub async fn read_some<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut BytesMut) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
        if buf.is_empty() {
            // Holding no part of a message, read on the stack first: waiting then holds no buffer, and what
            // comes costs an allocation of its own size (a read buffer allocated and released per message
            // costs more than most messages).
            let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); PROBE];
            let mut read = tokio::io::ReadBuf::uninit(&mut probe);
            return match Pin::new(&mut *reader).poll_read(cx, &mut read) {
                std::task::Poll::Ready(Ok(())) => {
                    *buf = BytesMut::from(read.filled());
                    std::task::Poll::Ready(Ok(read.filled().len()))
                }
                std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
                std::task::Poll::Pending => {
                    *buf = BytesMut::new();
                    std::task::Poll::Pending
                }
            };
        }
        if buf.capacity() - buf.len() < READ_CHUNK {
            buf.reserve(READ_CHUNK);
        }
        let read = tokio_util::io::poll_read_buf(Pin::new(&mut *reader), cx, buf);
        if read.is_pending() && buf.is_empty() {
            *buf = BytesMut::new();
        }
        read
    })
    .await
}

/// The write half of a framed byte stream. A message on its own, or a large one, is written straight from its
/// buffer; small ones written together are gathered into writes of up to 64 KiB, in a buffer that exists only
/// while they are (an idle connection holds none).
pub struct StreamWriter<W> {
    writer: W,
    gathered: BytesMut,
    envelope: Arc<AtomicU8>,
}

impl<W> fmt::Debug for StreamWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter").field("gathered", &self.gathered.len()).finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin + Send> StreamWriter<W> {
    async fn write_gathered(&mut self) -> io::Result<()> {
        if !self.gathered.is_empty() {
            self.writer.write_all(&self.gathered).await?;
            self.gathered.clear();
        }
        Ok(())
    }
}

/// The `Content-Length` header of a body of `len` bytes.
fn header(len: usize) -> Bytes {
    Bytes::from(format!("Content-Length: {len}\r\n\r\n"))
}

impl<W: AsyncWrite + Unpin + Send> FrameWrite for StreamWriter<W> {
    async fn write(&mut self, frame: Bytes, more: bool) -> io::Result<()> {
        let envelope = Envelope::from_u8(self.envelope.load(Ordering::Acquire));
        if (!more && self.gathered.is_empty()) || frame.len() >= WRITE_BUFFER {
            self.write_gathered().await?;
            match envelope {
                Envelope::Bare => self.writer.write_all(&frame).await,
                Envelope::Line => self.writer.write_all_buf(&mut frame.chain(&b"\n"[..])).await,
                Envelope::Header => self.writer.write_all_buf(&mut header(frame.len()).chain(frame)).await,
            }
        } else {
            match envelope {
                Envelope::Bare => self.gathered.extend_from_slice(&frame),
                Envelope::Line => {
                    self.gathered.extend_from_slice(&frame);
                    self.gathered.extend_from_slice(b"\n");
                }
                Envelope::Header => {
                    self.gathered.extend_from_slice(&header(frame.len()));
                    self.gathered.extend_from_slice(&frame);
                }
            }
            if !more || self.gathered.len() >= WRITE_BUFFER { self.write_gathered().await } else { Ok(()) }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.write_gathered().await?;
        // Hold no write buffer between batches.
        self.gathered = BytesMut::new();
        self.writer.flush().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.writer.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framing: Framing, input: &[u8]) -> Vec<Result<Bytes, String>> {
        let (mut reader, _) = stream_with_input(tokio::io::empty(), tokio::io::sink(), framing, BytesMut::from(input));
        let mut out = Vec::new();
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(e.reason));
                    return out;
                }
            }
        }
    }

    fn ok(items: &[&str]) -> Vec<Result<Bytes, String>> {
        items.iter().map(|s| Ok(Bytes::copy_from_slice(s.as_bytes()))).collect()
    }

    #[test]
    fn lines_are_cut_at_newlines() {
        assert_eq!(frames(Framing::lines(100), b"{\"a\":1}\n\r\n{}\r\n[1]"), ok(&["{\"a\":1}", "{}"]));
        let long = frames(Framing::lines(4), b"12345");
        assert!(matches!(&long[..], [Err(e)] if e.contains("over the limit of 4")), "{long:?}");
        let long = frames(Framing::lines(4), b"12345\n");
        assert!(matches!(&long[..], [Err(_)]), "{long:?}");
    }

    #[test]
    fn headers_give_the_length() {
        let input =
            b"Content-Length: 2\r\n\r\n{}content-length:3\r\nContent-Type: x\r\n\r\n[1]Content-Length: 5\r\n\r\n[";
        assert_eq!(frames(Framing::content_length(100), input), ok(&["{}", "[1]"]));
        let huge = frames(Framing::content_length(100), b"Content-Length: 9223372036854775808\r\n\r\n");
        assert!(matches!(&huge[..], [Err(e)] if e.contains("over the limit")), "{huge:?}");
        for bad in [&b"Content-Length: x\r\n\r\n"[..], b"Nonsense\r\n\r\n", b"Content-Type: y\r\n\r\n"] {
            assert!(matches!(&frames(Framing::content_length(100), bad)[..], [Err(_)]), "{bad:?}");
        }
        let endless = vec![b'a'; MAX_HEADER_SIZE + 1];
        assert!(matches!(&frames(Framing::content_length(100), &endless)[..], [Err(_)]));
    }

    #[test]
    fn detection_follows_the_first_byte() {
        assert_eq!(frames(Framing::detect(100), b"\n{\"a\":1}\n"), ok(&["{\"a\":1}"]));
        assert_eq!(frames(Framing::detect(100), b"Content-Length: 2\r\n\r\n{}"), ok(&["{}"]));
    }

    #[tokio::test]
    async fn writers_frame_as_the_reader_found() {
        let (mut reader, mut writer) = stream_with_input(
            tokio::io::empty(),
            Vec::new(),
            Framing::detect(100),
            BytesMut::from(&b"Content-Length: 2\r\n\r\n{}"[..]),
        );
        assert!(reader.next_frame().unwrap().is_some());
        writer.write(Bytes::from_static(b"[1]"), true).await.unwrap();
        writer.write(Bytes::from_static(b"{}"), false).await.unwrap();
        writer.flush().await.unwrap();
        assert_eq!(writer.writer, b"Content-Length: 3\r\n\r\n[1]Content-Length: 2\r\n\r\n{}");
        let (_, mut writer) = stream(tokio::io::empty(), Vec::new(), Framing::lines(100));
        writer.write(Bytes::from_static(b"{}"), false).await.unwrap();
        writer.write(Bytes::from(vec![b'x'; WRITE_BUFFER]), false).await.unwrap();
        assert_eq!(writer.writer.len(), 3 + WRITE_BUFFER + 1);
        assert_eq!(writer.writer.last(), Some(&b'\n'));
    }
}
