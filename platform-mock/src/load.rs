//! A load generator for load tests against any URL on loopback. Each worker thread runs its
//! own single-threaded runtime and its share of the connections, one task per connection and
//! at most one request in flight on each; a connection speaks just the HTTP/1.1 a load
//! generator needs (a prepared GET, the answer's status, its body read and dropped), as wrk
//! does, so a request costs no allocation, no cross-thread wake-up, no pool look-up and no
//! semaphore. (The platform's own calls to banks use the general client in `client`.)
//!
//! Open model: request `k` is due at `start + k / rate`, whatever the server does. A free
//! connection takes the next due slot of its thread and waits for its time; when every
//! connection is busy the slot waits for the first one to come free, and that wait counts in
//! its latency, which runs from the intended send time (no coordinated omission). How late
//! requests leave is reported as scheduling lag. Closed model: each connection sends its next
//! request when the previous one returns (for the maximum rate). Connections are opened before
//! the run starts. Bounded in time: sending stops at the end of the run, and requests still in
//! flight get at most [`DRAIN`] more.

use crate::client::ClientError;
use hyper::Uri;
use std::cell::{Cell, RefCell};
use std::io::{Read as _, Write as _};
use std::rc::Rc;
use std::sync::{Arc, Barrier, OnceLock};
use std::task::Poll;
use std::time::Duration;
use testbed_core::latency::{LatencyRecorder, LatencySummary};
use testbed_core::workload::RequestError;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// How long requests still in flight at the end of a run may take to complete.
pub const DRAIN: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub enum Model {
    /// Evenly spaced requests at `rate` per second.
    Open { rate: f64 },
    /// `connections` concurrent request loops.
    Closed { connections: usize },
}

#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub url: String,
    pub token: Option<String>,
    pub model: Model,
    pub duration: Duration,
    /// Open model: connections, hence most requests in flight; beyond it, due requests wait
    /// (their latency still counts from the intended time).
    pub max_in_flight: usize,
    /// Worker threads, each with its own runtime and share of the connections.
    pub threads: usize,
}

#[derive(Clone, Debug)]
pub struct LoadResult {
    /// Requests due within the run (open model), or sent (closed model).
    pub scheduled: u64,
    /// Requests that left.
    pub sent: u64,
    /// Requests answered (any status) or failed in transport.
    pub completed: u64,
    /// From the start to the last answer.
    pub elapsed: Duration,
    pub latency: LatencySummary,
    /// Open model: how late requests left compared with their schedule (mean, max).
    pub lag_mean: Duration,
    pub lag_max: Duration,
}

/// Where requests go: the address to connect to and the request's bytes.
struct Target {
    authority: String,
    request: Vec<u8>,
}

impl Target {
    fn parse(url: &str, token: Option<&str>) -> Result<Target, ClientError> {
        let bad = |message: &str| ClientError::Request { url: url.into(), message: message.into() };
        let uri: Uri = url.parse().map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only http:// URLs are supported"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let with_port = match authority.port_u16() {
            Some(_) => authority.as_str().to_string(),
            None => format!("{}:80", authority.as_str()),
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", authority.as_str());
        if let Some(t) = token {
            if t.bytes().any(|b| b.is_ascii_control()) {
                return Err(bad("the token is not a valid header value"));
            }
            request.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        request.push_str("\r\n");
        Ok(Target { authority: with_port, request: request.into_bytes() })
    }
}

/// What one worker thread measured.
struct Tally {
    recorder: LatencyRecorder,
    sent: u64,
    completed: u64,
    lag_sum: Duration,
    lag_max: Duration,
    last_answer: Option<Instant>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            recorder: LatencyRecorder::default(),
            sent: 0,
            completed: 0,
            lag_sum: Duration::ZERO,
            lag_max: Duration::ZERO,
            last_answer: None,
        }
    }
}

/// Runs the load on `spec.threads` threads and waits for them; returns once every request has
/// been answered or the drain time is over.
pub fn run(spec: &LoadSpec) -> Result<LoadResult, ClientError> {
    Target::parse(&spec.url, spec.token.as_deref())?;
    let threads = spec.threads.max(1);
    let connections = match spec.model {
        Model::Closed { connections } => connections,
        Model::Open { .. } => spec.max_in_flight,
    }
    .max(threads);
    let interval = match spec.model {
        Model::Open { rate } => Some(Duration::from_secs_f64(1.0 / rate.max(1e-9))),
        Model::Closed { .. } => None,
    };
    // Every thread connects first; then the run starts at one instant shared by all threads,
    // so connecting is not measured and they share one schedule.
    let ready = Arc::new(Barrier::new(threads + 1));
    let start_at = Arc::new(OnceLock::new());
    let duration = spec.duration;
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            let (url, token, ready, start_at) = (spec.url.clone(), spec.token.clone(), ready.clone(), start_at.clone());
            let share = connections / threads + usize::from(w < connections % threads);
            std::thread::spawn(move || -> Result<Tally, ClientError> {
                let setup = Target::parse(&url, token.as_deref()).and_then(|target| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| ClientError::Transport { url: url.clone(), message: e.to_string() })?;
                    Ok((Rc::new(target), runtime))
                });
                let local = tokio::task::LocalSet::new();
                let mut opened = Vec::new();
                if let Ok((target, runtime)) = &setup {
                    opened = local.block_on(runtime, async {
                        let mut connecting = tokio::task::JoinSet::new();
                        for _ in 0..share {
                            let target = target.clone();
                            connecting.spawn_local(async move { connect(&target).await.ok() });
                        }
                        connecting.join_all().await
                    });
                }
                ready.wait();
                ready.wait();
                let (target, runtime) = setup?;
                let start = Instant::from_std(*start_at.get().expect("set between the barriers"));
                let end = start + duration;
                let tally = Rc::new(RefCell::new(Tally::new()));
                let schedule = Rc::new(interval.map(|interval| Schedule {
                    start,
                    end,
                    step: interval * threads as u32,
                    first: interval * w as u32,
                    next: Cell::new(0),
                }));
                local.block_on(&runtime, async {
                    let mut tasks = tokio::task::JoinSet::new();
                    for connection in opened {
                        let (target, tally, schedule) = (target.clone(), tally.clone(), schedule.clone());
                        tasks.spawn_local(async move {
                            connection_loop(&target, connection, &tally, schedule.as_ref().as_ref(), (start, end)).await
                        });
                    }
                    // Requests still in flight after the drain time are given up (timeouts).
                    let all_done = async { while tasks.join_next().await.is_some() {} };
                    if tokio::time::timeout_at(end + DRAIN, all_done).await.is_err() {
                        tasks.abort_all();
                    }
                });
                drop(local);
                Ok(Rc::try_unwrap(tally).ok().expect("tasks are done").into_inner())
            })
        })
        .collect();
    ready.wait();
    let start = std::time::Instant::now() + Duration::from_millis(2);
    start_at.set(start).expect("set once");
    let start = Instant::from_std(start);
    ready.wait();
    let mut total = Tally::new();
    for worker in workers {
        let tally = worker.join().expect("load worker panicked")?;
        total.recorder.merge(&tally.recorder);
        total.sent += tally.sent;
        total.completed += tally.completed;
        total.lag_sum += tally.lag_sum;
        total.lag_max = total.lag_max.max(tally.lag_max);
        total.last_answer = total.last_answer.max(tally.last_answer);
    }
    let elapsed = total.last_answer.map_or(spec.duration, |t| t.saturating_duration_since(start)).max(spec.duration);
    let scheduled = match interval {
        // Slots k with start + k·interval < end.
        Some(i) => (spec.duration.as_nanos().div_ceil(i.as_nanos().max(1))) as u64,
        None => total.sent,
    };
    Ok(LoadResult {
        scheduled,
        sent: total.sent,
        completed: total.completed,
        elapsed,
        latency: total.recorder.summary(elapsed),
        lag_mean: if total.sent == 0 || interval.is_none() {
            Duration::ZERO
        } else {
            total.lag_sum / u32::try_from(total.sent).unwrap_or(u32::MAX)
        },
        lag_max: total.lag_max,
    })
}

/// One thread's share of the open model's slots: slot `k` of this thread is due at
/// `start + first + k·step`.
struct Schedule {
    start: Instant,
    end: Instant,
    step: Duration,
    first: Duration,
    next: Cell<u32>,
}

impl Schedule {
    /// The next slot's intended send time, or `None` once the run is over.
    fn take(&self) -> Option<Instant> {
        let k = self.next.get();
        let due = self.start + self.first + self.step * k;
        if due >= self.end {
            return None;
        }
        self.next.set(k + 1);
        Some(due)
    }
}

/// One connection: sends requests (on schedule, or back to back) until the run ends,
/// reconnecting after transport errors.
async fn connection_loop(
    target: &Target,
    mut sender: Option<Connection>,
    tally: &RefCell<Tally>,
    schedule: Option<&Schedule>,
    (start, end): (Instant, Instant),
) {
    tokio::time::sleep_until(start).await;
    loop {
        // When this request should leave.
        let intended = match schedule {
            Some(s) => match s.take() {
                Some(due) => {
                    if due > Instant::now() {
                        tokio::time::sleep_until(due).await;
                    }
                    due
                }
                None => break,
            },
            None => {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                now
            }
        };
        let conn = match sender.as_mut() {
            Some(s) => s,
            None => match connect(target).await {
                Ok(s) => sender.insert(s),
                Err(_) => {
                    tally.borrow_mut().recorder.error(&RequestError::Connect);
                    sender = None;
                    // The server is not there (yet): do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let left = Instant::now();
        {
            let mut t = tally.borrow_mut();
            t.sent += 1;
            if schedule.is_some() {
                let lag = left - intended;
                t.lag_sum += lag;
                t.lag_max = t.lag_max.max(lag);
            }
        }
        let answer = conn.exchange(&target.request).await;
        let done = Instant::now();
        let mut t = tally.borrow_mut();
        t.completed += 1;
        t.last_answer = Some(done);
        if !matches!(answer, Ok((_, true))) {
            sender = None;
        }
        match answer {
            Ok((status, _)) if (200..300).contains(&status) => t.recorder.record(done - intended),
            Ok((status, _)) => t.recorder.error(&RequestError::Status(status_kind(status))),
            Err(()) => {
                t.recorder.error(&RequestError::Transport);
                sender = None;
            }
        }
    }
}

/// A keep-alive HTTP/1.1 client connection that speaks just what a load generator needs, as
/// wrk does: one prepared GET at a time, the answer's status, its body (by `Content-Length`,
/// chunked, or up to the close) read and dropped. No allocation per request: the read buffer is
/// the connection's.
struct Connection {
    /// The socket, polled through tokio's readiness so that stale readiness can be cleared
    /// once an answer is complete: the next read then waits for the next answer instead of
    /// first failing with `WouldBlock` (one system call per request less).
    stream: AsyncFd<std::net::TcpStream>,
    /// The answer so far is `buf[..filled]`; the rest is room to read into.
    buf: Vec<u8>,
    filled: usize,
}

/// Answers larger than this are refused (the load generator reads small pages).
const MAX_ANSWER: usize = 16 << 20;

async fn connect(target: &Target) -> Result<Connection, &'static str> {
    let stream = tokio::net::TcpStream::connect(&target.authority).await.map_err(|_| "connect")?;
    let _ = stream.set_nodelay(true);
    let stream = stream.into_std().map_err(|_| "connect")?;
    stream.set_nonblocking(true).map_err(|_| "connect")?;
    // SAFETY: the `TcpStream` owns its descriptor, which stays open and unchanged until the
    // `AsyncFd` holding it is dropped.
    let stream = unsafe { AsyncFd::register(stream) }.map_err(|_| "connect")?;
    Ok(Connection { stream, buf: vec![0; 8192], filled: 0 })
}

/// How an answer's body ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A parsed answer head: status, head length, body framing, and whether the server keeps the
/// connection open.
#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    keep_alive: bool,
}

impl Connection {
    /// Sends one request and reads its whole answer: the status, and whether the connection can
    /// carry the next request.
    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, bool), ()> {
        // The last answer was read whole and a server sends nothing unasked: forget the read
        // readiness it left (tokio keeps any event newer than the one observed here).
        std::future::poll_fn(|cx| {
            if let Poll::Ready(Ok(mut ready)) = self.stream.poll_read_ready(cx) {
                ready.clear_ready();
            }
            Poll::Ready(())
        })
        .await;
        let mut written = 0;
        while written < request.len() {
            match self.stream.get_ref().write(&request[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.stream.writable().await.map_err(drop)?.clear_ready();
                }
                Err(_) => return Err(()),
            }
        }
        self.filled = 0;
        let head = loop {
            if self.read().await? == 0 {
                return Err(());
            }
            if let Some(head) = parse_head(&self.buf[..self.filled])? {
                break head;
            }
        };
        let end = loop {
            let done = match head.framing {
                Framing::Length(n) => (self.filled >= head.len + n).then_some(head.len + n),
                Framing::Chunked => chunked_end(&self.buf[..self.filled], head.len)?,
                Framing::UntilClose => None,
            };
            if let Some(end) = done {
                break end;
            }
            if self.read().await? == 0 {
                if head.framing == Framing::UntilClose {
                    break self.filled;
                }
                return Err(());
            }
        };
        // Nothing may follow an answer: we never pipeline.
        Ok((head.status, head.keep_alive && head.framing != Framing::UntilClose && end == self.filled))
    }

    async fn read(&mut self) -> Result<usize, ()> {
        if self.filled == self.buf.len() {
            if self.buf.len() >= MAX_ANSWER {
                return Err(());
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let Connection { stream, buf, filled } = self;
        loop {
            let mut ready = stream.readable().await.map_err(drop)?;
            match ready.try_io(|s| s.get_ref().read(&mut buf[*filled..])) {
                Ok(Ok(n)) => {
                    *filled += n;
                    return Ok(n);
                }
                Ok(Err(_)) => return Err(()),
                Err(_would_block) => continue,
            }
        }
    }
}

/// The head of an HTTP/1.1 answer at the start of `buf`, once it is complete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, ()> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > 64 * 1024 { Err(()) } else { Ok(None) };
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(drop)?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or(())?;
    let (version, rest) = status_line.split_once(' ').ok_or(())?;
    let status: u16 = rest.get(..3).and_then(|c| c.parse().ok()).ok_or(())?;
    let mut keep_alive = version == "HTTP/1.1";
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(())?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(drop)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.rsplit(',').next().is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head { status, len: end + 4, framing, keep_alive }))
}

/// Where a chunked body starting at `from` ends, once all of it is in `buf`.
fn chunked_end(buf: &[u8], mut from: usize) -> Result<Option<usize>, ()> {
    let line_end = |at: usize| buf.get(at..).and_then(|b| b.windows(2).position(|w| w == b"\r\n")).map(|p| at + p);
    loop {
        let Some(eol) = line_end(from) else { return Ok(None) };
        let line = std::str::from_utf8(&buf[from..eol]).map_err(drop)?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).map_err(drop)?;
        from = eol + 2;
        if size == 0 {
            // Trailer lines, then an empty line.
            loop {
                let Some(eol) = line_end(from) else { return Ok(None) };
                if eol == from {
                    return Ok(Some(eol + 2));
                }
                from = eol + 2;
            }
        }
        if buf.len() < from + size + 2 {
            return Ok(None);
        }
        from += size + 2;
    }
}

/// The error kind of a non-2xx status, without allocating for the common ones.
fn status_kind(status: u16) -> &'static str {
    match status {
        400 => "status_400",
        401 => "status_401",
        403 => "status_403",
        404 => "status_404",
        429 => "status_429",
        500 => "status_500",
        503 => "status_503",
        s if s < 400 => "status_other_3xx",
        s if s < 500 => "status_other_4xx",
        _ => "status_other_5xx",
    }
}

/// CPU time this process has used so far (user + system), from `/proc/self/stat` (Linux).
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_give_status_framing_and_keep_alive() {
        let head = |text: &str| parse_head(text.as_bytes());
        assert_eq!(head("HTTP/1.1 200 OK\r\ncontent-length: 15\r\n"), Ok(None));
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{"),
            Ok(Some(Head { status: 200, len: 39, framing: Framing::Length(15), keep_alive: true }))
        );
        assert_eq!(
            head("HTTP/1.1 429 Too Many\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"),
            Ok(Some(Head { status: 429, len: 72, framing: Framing::Chunked, keep_alive: false }))
        );
        assert_eq!(
            head("HTTP/1.0 204 No Content\r\n\r\n").map(|h| h.map(|h| (h.framing, h.keep_alive))),
            Ok(Some((Framing::Length(0), false)))
        );
        assert_eq!(head("HTTP/1.1 200 OK\r\n\r\n").map(|h| h.map(|h| h.framing)), Ok(Some(Framing::UntilClose)));
        assert_eq!(head("garbage\r\n\r\n"), Err(()));
    }

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk_and_trailers() {
        let body = b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n";
        assert_eq!(chunked_end(body, 0), Ok(Some(body.len())));
        for cut in 0..body.len() {
            assert_eq!(chunked_end(&body[..cut], 0), Ok(None), "cut at {cut}");
        }
        let trailers = b"0\r\nx-sum: 1\r\n\r\n";
        assert_eq!(chunked_end(trailers, 0), Ok(Some(trailers.len())));
        assert_eq!(chunked_end(b"zz\r\n", 0), Err(()));
    }
}
