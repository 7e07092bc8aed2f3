//! WebSocket (RFC 6455, with tokio-tungstenite) as a connection the engine runs a session on: one message per
//! WebSocket message (text frames for text encodings, binary for MessagePack), ping/pong keep-alive, and a
//! message size limit.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rpc_core::Fault;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use crate::framing::{Broken, FrameRead, FrameWrite};

/// The default interval between keep-alive pings on a WebSocket connection: 30 seconds. A peer that sends
/// nothing (not even a pong) for two intervals is taken as gone.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);
/// The default time a WebSocket client has to finish its opening handshake: 10 seconds.
pub const DEFAULT_WS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Read buffer per connection: tungstenite allocates it up front, and its default (128 KiB) would make 10,000
/// idle connections cost over a gigabyte.
const READ_BUFFER: usize = 8 * 1024;

/// WebSocket settings shared by servers and clients.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WsConfig {
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) handshake_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> WsConfig {
        WsConfig { ping_interval: Some(DEFAULT_PING_INTERVAL), handshake_timeout: DEFAULT_WS_HANDSHAKE_TIMEOUT }
    }
}

/// tungstenite's configuration for messages of up to `max_message_size` bytes.
pub(crate) fn tungstenite_config(max_message_size: usize) -> WebSocketConfig {
    let mut config = WebSocketConfig::default()
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
        .read_buffer_size(READ_BUFFER);
    config.write_buffer_size = 64 * 1024;
    config
}

/// A WebSocket's halves as the engine reads and writes them; `text` says which frames carry messages.
pub(crate) fn split<S>(ws: WebSocketStream<S>, text: bool, config: WsConfig) -> (WsReader<S>, WsWriter<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (sink, stream) = ws.split();
    let ping = config.ping_interval;
    (WsReader { stream, frame: None, text, silence: ping.map(|p| p * 2) }, WsWriter { sink, text, ping })
}

/// The read half: one message at a time.
pub(crate) struct WsReader<S> {
    stream: SplitStream<WebSocketStream<S>>,
    frame: Option<Result<Bytes, Broken>>,
    text: bool,
    /// How long the peer may send nothing (not even a pong) before it is taken as gone.
    silence: Option<Duration>,
}

fn broken(reason: impl Into<String>, fault: Fault) -> Broken {
    Broken { reason: reason.into(), fault, id: None }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> FrameRead for WsReader<S> {
    fn next_frame(&mut self) -> Result<Option<Bytes>, Broken> {
        self.frame.take().transpose()
    }

    async fn read(&mut self) -> io::Result<usize> {
        loop {
            let next = match self.silence {
                Some(limit) => match tokio::time::timeout(limit, self.stream.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("the WebSocket peer sent nothing, not even a pong, for {limit:?}"),
                        ));
                    }
                },
                None => self.stream.next().await,
            };
            let message = match next {
                None => return Ok(0),
                Some(Ok(message)) => message,
                Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => return Ok(0),
                Some(Err(tungstenite::Error::Io(e))) => return Err(e),
                Some(Err(tungstenite::Error::Capacity(e))) => {
                    let reason = format!("a WebSocket message over the limit: {e}");
                    self.frame = Some(Err(broken(reason.clone(), Fault::invalid_request(reason))));
                    return Ok(1);
                }
                Some(Err(e)) => {
                    let reason = format!("WebSocket: {e}");
                    self.frame = Some(Err(broken(reason.clone(), Fault::parse_error(reason))));
                    return Ok(1);
                }
            };
            match message {
                Message::Text(text) if self.text => {
                    self.frame = Some(Ok(Bytes::from(text)));
                    return Ok(1);
                }
                Message::Binary(bytes) if !self.text => {
                    self.frame = Some(Ok(bytes));
                    return Ok(1);
                }
                Message::Text(_) | Message::Binary(_) => {
                    let reason = if self.text {
                        "a binary WebSocket frame: messages travel in text frames"
                    } else {
                        "a text WebSocket frame: messages travel in binary frames"
                    };
                    self.frame = Some(Err(broken(reason, Fault::invalid_request(reason))));
                    return Ok(1);
                }
                Message::Close(_) => return Ok(0),
                // Pings are answered by tungstenite; pongs and pings only show that the peer is there.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
        }
    }

    fn partial(&self) -> usize {
        0
    }
}

/// The write half: one WebSocket message per message, flushed per batch.
pub(crate) struct WsWriter<S> {
    sink: SplitSink<WebSocketStream<S>, Message>,
    text: bool,
    ping: Option<Duration>,
}

fn ws_io(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket is closed")
        }
        other => io::Error::other(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> FrameWrite for WsWriter<S> {
    async fn write(&mut self, frame: Bytes, _more: bool) -> io::Result<()> {
        let message = if self.text {
            Message::Text(Utf8Bytes::try_from(frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?)
        } else {
            Message::Binary(frame)
        };
        self.sink.feed(message).await.map_err(ws_io)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.sink.flush().await.map_err(ws_io)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.sink.close().await.map_err(ws_io)
    }

    fn keepalive(&self) -> Option<Duration> {
        self.ping
    }

    async fn ping(&mut self) -> io::Result<()> {
        self.sink.send(Message::Ping(Bytes::new())).await.map_err(ws_io)
    }
}
