//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container's output read back from its
//! CRI log files, with the kubelet's options (`follow`, `tailLines`, `timestamps`,
//! `sinceSeconds`, `sinceTime`, `limitBytes`, `previous`).
//!
//! The files are written by the per-pod shim (`crates/runtime`), one line per write:
//!
//! ```text
//! 2016-10-06T00:17:09.669794202Z stdout F a whole line
//! 2016-10-06T00:17:09.669794202Z stderr P the first part of a long line, continued by
//! 2016-10-06T00:17:09.669800000Z stderr F  the next record of the same stream
//! ```
//!
//! `F` ends a line, `P` is a partial line joined with the following records of the same stream
//! (the kubelet prints partial records as they are; we join them so that `tailLines`,
//! `sinceTime` and `timestamps` apply to whole lines, stamped with their first record's time).
//!
//! Naming, as written by the per-pod shim (`crates/runtime/src/shim/log.rs`, `LogFile`): the
//! current file of a container instance is `<pod log dir>/<container>/<restartCount>.log`;
//! rotation (by size, 10 MiB, 5 files in all) renames `N.log.1`..`N.log.3` one number up,
//! drops the oldest, renames `N.log` to `N.log.1` and opens a fresh `N.log`. So `.1` is the
//! newest rotated file. Rotated files are ordered by the time of their first record rather
//! than by name, so the kubelet's timestamp suffixes (`0.log.20161006-001709`) work too.
//! Compressed (`.gz`) and temporary (`.tmp`) rotations are skipped. `previous` reads the files
//! of the instance before the last restart (the [`ContainerLocator`](super::ContainerLocator)
//! gives its path).
//!
//! This module only reads: it never writes, rotates or removes log files.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header};
use jiff::Timestamp;
use tokio::sync::mpsc;

use super::{ContainerLocator, ServerState, parse_bool, query_pairs, text_error};

/// How often a followed log is polled for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Output is sent in chunks of about this size when not following.
const CHUNK: usize = 32 * 1024;

/// The kubelet's log options, parsed from the query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    /// The last N lines (of every file of the instance, rotated ones included).
    pub tail_lines: Option<u64>,
    /// Lines stamped before this time are skipped (`sinceSeconds` or `sinceTime`).
    pub since: Option<Timestamp>,
    /// The output stops after this many bytes (mid-line if need be).
    pub limit_bytes: Option<u64>,
}

impl LogOptions {
    /// Parses the query parameters; `now` anchors `sinceSeconds`.
    pub fn from_query(pairs: &[(String, String)], now: Timestamp) -> Result<LogOptions, String> {
        let mut options = LogOptions::default();
        let mut since_seconds = None;
        let mut since_time = None;
        for (key, value) in pairs {
            match key.as_str() {
                "follow" => options.follow = parse_bool(key, value)?,
                "previous" => options.previous = parse_bool(key, value)?,
                "timestamps" => options.timestamps = parse_bool(key, value)?,
                "tailLines" => {
                    let lines: i64 = parse_number(key, value)?;
                    // Negative means "all", as kubectl's --tail=-1.
                    options.tail_lines = u64::try_from(lines).ok();
                }
                "limitBytes" => {
                    let limit: i64 = parse_number(key, value)?;
                    if limit < 1 {
                        return Err("limitBytes: Invalid value: must be greater than 0".into());
                    }
                    options.limit_bytes = u64::try_from(limit).ok();
                }
                "sinceSeconds" => {
                    let seconds: i64 = parse_number(key, value)?;
                    if seconds < 1 {
                        return Err("sinceSeconds: Invalid value: must be greater than 0".into());
                    }
                    since_seconds = Some(seconds);
                }
                "sinceTime" => {
                    let time: Timestamp =
                        value.parse().map_err(|e| format!("invalid value {value:?} for sinceTime: {e}"))?;
                    since_time = Some(time);
                }
                _ => {}
            }
        }
        options.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => return Err("at most one of `sinceTime` or `sinceSeconds` may be specified".into()),
            (Some(seconds), None) => {
                Some(now.checked_sub(jiff::SignedDuration::from_secs(seconds)).unwrap_or(Timestamp::MIN))
            }
            (None, time) => time,
        };
        Ok(options)
    }
}

fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("invalid value {value:?} for query parameter {key}"))
}

/// The stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One record (one line of a CRI log file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriRecord<'a> {
    pub timestamp: Timestamp,
    pub stream: LogStream,
    /// `P`: the line continues in the next record of the same stream.
    pub partial: bool,
    /// The content without the record's trailing newline.
    pub content: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed CRI log record: {0}")]
pub struct ParseError(String);

/// Parses `<RFC3339Nano time> <stdout|stderr> <F|P>[:tags] <content>` (the newline excluded).
pub fn parse_record(line: &[u8]) -> Result<CriRecord<'_>, ParseError> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let malformed = || ParseError(String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned());
    let time = fields.next().ok_or_else(malformed)?;
    let timestamp: Timestamp = std::str::from_utf8(time).ok().and_then(|t| t.parse().ok()).ok_or_else(malformed)?;
    let stream = match fields.next().ok_or_else(malformed)? {
        b"stdout" => LogStream::Stdout,
        b"stderr" => LogStream::Stderr,
        _ => return Err(malformed()),
    };
    let tags = fields.next().ok_or_else(malformed)?;
    // Tags are `:`-separated; the first says whether the line is full or partial.
    let partial = match tags.split(|b| *b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err(malformed()),
    };
    Ok(CriRecord { timestamp, stream, partial, content: fields.next().unwrap_or(b"") })
}

/// A whole line of output: joined records, newline included (absent only for a partial line
/// the writer has not finished).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub timestamp: Timestamp,
    pub stream: LogStream,
    pub content: Vec<u8>,
}

impl LogLine {
    /// The bytes sent to the client: the content, after the time with `timestamps`
    /// (RFC3339Nano, trailing zeros trimmed as Go prints it).
    pub fn render(&self, timestamps: bool, out: &mut Vec<u8>) {
        if timestamps {
            out.extend_from_slice(format_rfc3339_nano(self.timestamp).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&self.content);
    }
}

/// Go's `time.RFC3339Nano` in UTC: fractional seconds without trailing zeros.
pub fn format_rfc3339_nano(time: Timestamp) -> String {
    let whole = time.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = time.subsec_nanosecond();
    if nanos == 0 {
        return format!("{whole}Z");
    }
    let fraction = format!("{nanos:09}");
    format!("{whole}.{}Z", fraction.trim_end_matches('0'))
}

/// Joins partial records into lines, per stream.
#[derive(Debug, Default)]
pub struct LineJoiner {
    pending: [Option<LogLine>; 2],
}

impl LineJoiner {
    /// Adds a record; returns the line it completes, if any.
    pub fn push(&mut self, record: &CriRecord<'_>) -> Option<LogLine> {
        let slot = &mut self.pending[record.stream as usize];
        let line = slot.get_or_insert_with(|| LogLine {
            timestamp: record.timestamp,
            stream: record.stream,
            content: Vec::with_capacity(record.content.len() + 1),
        });
        line.content.extend_from_slice(record.content);
        if record.partial {
            return None;
        }
        let mut line = slot.take()?;
        line.content.push(b'\n');
        Some(line)
    }

    /// The unfinished lines, oldest first (a log read to its end shows them as they are).
    pub fn take_pending(&mut self) -> Vec<LogLine> {
        let mut lines: Vec<LogLine> = self.pending.iter_mut().filter_map(Option::take).collect();
        lines.sort_by_key(|line| line.timestamp);
        lines
    }
}

/// Reads whole records from a file as it grows, keeping an unfinished last record for later.
pub struct RecordReader {
    file: File,
    buffer: Vec<u8>,
}

impl RecordReader {
    pub fn new(file: File) -> RecordReader {
        RecordReader { file, buffer: Vec::new() }
    }

    /// Every complete record written since the last call (newlines stripped).
    pub fn read_records(&mut self) -> io::Result<Vec<Vec<u8>>> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = self.file.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
        let Some(last_newline) = self.buffer.iter().rposition(|b| *b == b'\n') else { return Ok(Vec::new()) };
        let rest = self.buffer.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut self.buffer, rest);
        Ok(complete[..complete.len() - 1].split(|b| *b == b'\n').map(<[u8]>::to_vec).collect())
    }

    fn inode(&self) -> Option<u64> {
        self.file.metadata().ok().map(|m| m.ino())
    }
}

/// The files of a container instance, oldest first: its rotated files, then `current`.
pub fn log_files(current: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (current.parent(), current.file_name().and_then(|n| n.to_str())) else {
        return vec![current.to_path_buf()];
    };
    let prefix = format!("{name}.");
    let mut rotated: Vec<(Option<Timestamp>, std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name().into_string().ok()?;
            let suffix = file_name.strip_prefix(&prefix)?;
            if suffix.is_empty() || suffix.ends_with(".gz") || suffix.ends_with(".tmp") {
                return None;
            }
            let path = entry.path();
            let modified = entry.metadata().ok()?.modified().ok()?;
            Some((first_timestamp(&path), modified, path))
        })
        .collect();
    // By first record, then by modification time (an empty rotated file has no record).
    rotated.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, _, path)| path).collect();
    files.push(current.to_path_buf());
    files
}

fn first_timestamp(path: &Path) -> Option<Timestamp> {
    let mut head = [0u8; 64];
    let n = File::open(path).and_then(|mut f| f.read(&mut head)).ok()?;
    let end = head[..n].iter().position(|b| *b == b' ')?;
    std::str::from_utf8(&head[..end]).ok()?.parse().ok()
}

/// Where the output goes: stops at `limitBytes`, and tells when the client is gone.
struct Output {
    sender: mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
    remaining: Option<u64>,
    timestamps: bool,
    since: Option<Timestamp>,
}

/// Why the output ended early.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    LimitReached,
    ClientGone,
}

impl Output {
    fn line(&mut self, line: &LogLine) -> Result<(), Stop> {
        if self.since.is_some_and(|since| line.timestamp < since) {
            return Ok(());
        }
        let start = self.buffer.len();
        line.render(self.timestamps, &mut self.buffer);
        if let Some(remaining) = self.remaining.as_mut() {
            let added = (self.buffer.len() - start) as u64;
            if added >= *remaining {
                self.buffer.truncate(start + *remaining as usize);
                *remaining = 0;
                self.flush()?;
                return Err(Stop::LimitReached);
            }
            *remaining -= added;
        }
        if self.buffer.len() >= CHUNK { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buffer));
        self.sender.blocking_send(chunk).map_err(|_| Stop::ClientGone)
    }
}

/// Writes the log of one container instance to `sender`, following it if asked: blocking,
/// run on a blocking thread. `still_running` is asked while following; following ends once
/// it says no and the file has stopped growing, or when the client is gone.
pub fn stream_log(
    current: &Path,
    options: &LogOptions,
    sender: mpsc::Sender<Bytes>,
    still_running: impl Fn() -> bool,
) -> io::Result<()> {
    let mut output = Output {
        sender,
        buffer: Vec::new(),
        remaining: options.limit_bytes,
        timestamps: options.timestamps,
        since: options.since,
    };
    match write_log(current, options, &mut output, still_running) {
        Ok(()) => {
            let _ = output.flush();
            Ok(())
        }
        Err(StreamError::Stop(Stop::LimitReached | Stop::ClientGone)) => Ok(()),
        Err(StreamError::Io(error)) => Err(error),
    }
}

enum StreamError {
    Stop(Stop),
    Io(io::Error),
}

impl From<Stop> for StreamError {
    fn from(stop: Stop) -> Self {
        StreamError::Stop(stop)
    }
}

impl From<io::Error> for StreamError {
    fn from(error: io::Error) -> Self {
        StreamError::Io(error)
    }
}

fn write_log(
    current: &Path,
    options: &LogOptions,
    output: &mut Output,
    still_running: impl Fn() -> bool,
) -> Result<(), StreamError> {
    let mut joiner = LineJoiner::default();
    // With a tail, only the last N lines are kept while reading everything once.
    let mut tail: Option<VecDeque<LogLine>> = options.tail_lines.map(|n| VecDeque::with_capacity(n.min(4096) as usize));
    let mut emit = |line: LogLine, output: &mut Output| -> Result<(), Stop> {
        match (&mut tail, options.tail_lines) {
            (Some(kept), Some(limit)) => {
                if limit > 0 {
                    if kept.len() as u64 == limit {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
                Ok(())
            }
            _ => output.line(&line),
        }
    };
    let mut current_reader = None;
    for path in log_files(current) {
        let file = match File::open(&path) {
            Ok(file) => file,
            // Rotated away between listing and opening, or not written yet.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error.into()),
        };
        let mut reader = RecordReader::new(file);
        for record in reader.read_records()? {
            let Ok(record) = parse_record(&record) else { continue };
            if let Some(line) = joiner.push(&record) {
                emit(line, output)?;
            }
        }
        if path == current {
            current_reader = Some(reader);
        }
    }
    if !options.follow {
        for line in joiner.take_pending() {
            emit(line, output)?;
        }
    }
    if let Some(kept) = tail.take() {
        for line in kept {
            output.line(&line)?;
        }
    }
    output.flush()?;
    if !options.follow {
        return Ok(());
    }
    follow(current, current_reader, &mut joiner, output, still_running)
}

fn follow(
    current: &Path,
    mut reader: Option<RecordReader>,
    joiner: &mut LineJoiner,
    output: &mut Output,
    still_running: impl Fn() -> bool,
) -> Result<(), StreamError> {
    // After the container stopped, one more read catches what it wrote last.
    let mut last_round = false;
    loop {
        let mut grew = false;
        if let Some(active) = reader.as_mut() {
            for record in active.read_records()? {
                grew = true;
                let Ok(record) = parse_record(&record) else { continue };
                if let Some(line) = joiner.push(&record) {
                    output.line(&line)?;
                }
            }
        }
        // Rotation renamed our file and opened a new one: switch once the old one is drained.
        let on_disk = std::fs::metadata(current).ok().map(|m| m.ino());
        if !grew && on_disk.is_some() && on_disk != reader.as_ref().and_then(RecordReader::inode) {
            reader = File::open(current).ok().map(RecordReader::new);
            continue;
        }
        output.flush()?;
        if output.sender.is_closed() {
            return Err(Stop::ClientGone.into());
        }
        if !grew {
            if last_round {
                for line in joiner.take_pending() {
                    output.line(&line)?;
                }
                output.flush()?;
                return Ok(());
            }
            last_round = !still_running();
            if last_round {
                continue;
            }
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// The route handler.
pub async fn handle(
    State(state): State<ServerState>,
    UrlPath((namespace, pod, container)): UrlPath<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let options = match LogOptions::from_query(&query_pairs(query.as_deref()), Timestamp::now()) {
        Ok(options) => options,
        Err(message) => return text_error(StatusCode::BAD_REQUEST, message),
    };
    let Some(located) = state.locator.locate(&namespace, &pod, &container, options.previous) else {
        return text_error(
            StatusCode::BAD_REQUEST,
            not_found_message(&*state.locator, &namespace, &pod, &container, options.previous),
        );
    };
    let (sender, mut receiver) = mpsc::channel::<Bytes>(16);
    let locator = state.locator.clone();
    let container_id = located.container_id.clone();
    let log_path = located.log_path.clone();
    tokio::task::spawn_blocking(move || {
        // Following ends with the instance: once it stopped, or was replaced by a restart.
        let still_running = || {
            locator
                .locate(&namespace, &pod, &container, false)
                .is_some_and(|now| now.running && now.container_id == container_id)
        };
        if let Err(error) = stream_log(&log_path, &options, sender, still_running) {
            tracing::warn!("reading {}: {error}", log_path.display());
        }
    });
    let body = Body::from_stream(futures::stream::poll_fn(move |cx| {
        receiver.poll_recv(cx).map(|chunk| chunk.map(Ok::<_, std::convert::Infallible>))
    }));
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// The kubelet's messages for an instance that is not there.
fn not_found_message(
    locator: &dyn ContainerLocator,
    namespace: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> String {
    if previous {
        return format!("previous terminated container \"{container}\" in pod \"{pod}\" not found");
    }
    let reason = locator.waiting_reason(namespace, pod, container).unwrap_or_else(|| "ContainerCreating".into());
    format!("container \"{container}\" in pod \"{pod}\" is waiting to start: {reason}")
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn time(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn record(at: &str, stream: &str, tag: &str, content: &str) -> String {
        format!("{at} {stream} {tag} {content}\n")
    }

    /// Runs a non-following read and returns everything it wrote.
    fn read(current: &Path, options: &LogOptions) -> String {
        let (sender, mut receiver) = mpsc::channel(1024);
        stream_log(current, options, sender, || false).unwrap();
        let mut all = Vec::new();
        while let Ok(chunk) = receiver.try_recv() {
            all.extend_from_slice(&chunk);
        }
        String::from_utf8(all).unwrap()
    }

    fn write(path: &Path, records: &[String]) {
        std::fs::write(path, records.concat()).unwrap();
    }

    #[test]
    fn parses_records() {
        let parsed = parse_record(b"2016-10-06T00:17:09.669794202Z stdout F hello world").unwrap();
        assert_eq!(parsed.timestamp, time("2016-10-06T00:17:09.669794202Z"));
        assert_eq!(parsed.stream, LogStream::Stdout);
        assert!(!parsed.partial);
        assert_eq!(parsed.content, b"hello world");
        let partial = parse_record(b"2016-10-06T00:17:09Z stderr P:x part ").unwrap();
        assert!(partial.partial);
        assert_eq!(partial.content, b"part ");
        let empty = parse_record(b"2016-10-06T00:17:09Z stdout F ").unwrap();
        assert_eq!(empty.content, b"");
        assert!(parse_record(b"garbage").is_err());
        assert!(parse_record(b"2016-10-06T00:17:09Z stdin F x").is_err());
        assert!(parse_record(b"2016-10-06T00:17:09Z stdout X x").is_err());
        assert!(parse_record(b"not-a-time stdout F x").is_err());
    }

    #[test]
    fn formats_times_as_go_rfc3339_nano() {
        assert_eq!(format_rfc3339_nano(time("2016-10-06T00:17:09.669794202Z")), "2016-10-06T00:17:09.669794202Z");
        assert_eq!(format_rfc3339_nano(time("2016-10-06T00:17:09.500Z")), "2016-10-06T00:17:09.5Z");
        assert_eq!(format_rfc3339_nano(time("2016-10-06T00:17:09Z")), "2016-10-06T00:17:09Z");
    }

    #[test]
    fn joins_partial_records_per_stream() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("0.log");
        write(
            &current,
            &[
                record("2024-01-01T00:00:01Z", "stdout", "P", "hel"),
                record("2024-01-01T00:00:02Z", "stderr", "F", "oops"),
                record("2024-01-01T00:00:03Z", "stdout", "P", "lo "),
                record("2024-01-01T00:00:04Z", "stdout", "F", "world"),
                record("2024-01-01T00:00:05Z", "stdout", "P", "unfinished"),
            ],
        );
        assert_eq!(read(&current, &LogOptions::default()), "oops\nhello world\nunfinished");
        let stamped = read(&current, &LogOptions { timestamps: true, ..Default::default() });
        assert_eq!(
            stamped,
            "2024-01-01T00:00:02Z oops\n2024-01-01T00:00:01Z hello world\n2024-01-01T00:00:05Z unfinished"
        );
    }

    #[test]
    fn skips_malformed_records_and_an_unfinished_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("0.log");
        let mut text = record("2024-01-01T00:00:01Z", "stdout", "F", "one");
        text.push_str("garbage line\n");
        text.push_str(&record("2024-01-01T00:00:02Z", "stdout", "F", "two"));
        text.push_str("2024-01-01T00:00:03Z stdout F half-writ");
        std::fs::write(&current, text).unwrap();
        assert_eq!(read(&current, &LogOptions::default()), "one\ntwo\n");
    }

    fn rotated_set(dir: &Path) -> PathBuf {
        let current = dir.join("0.log");
        // Numeric suffixes whose order is not the time order: the first record decides.
        write(
            &dir.join("0.log.2"),
            &[record("2024-01-01T00:00:01Z", "stdout", "F", "a1"), record("2024-01-01T00:00:02Z", "stdout", "F", "a2")],
        );
        write(
            &dir.join("0.log.1"),
            &[record("2024-01-01T00:00:03Z", "stdout", "F", "b1"), record("2024-01-01T00:00:04Z", "stdout", "F", "b2")],
        );
        write(&current, &[record("2024-01-01T00:00:05Z", "stdout", "F", "c1")]);
        // Not ours: another instance, a compressed rotation.
        write(&dir.join("1.log"), &[record("2024-01-01T00:00:00Z", "stdout", "F", "other")]);
        write(&dir.join("0.log.3.gz"), &[record("2024-01-01T00:00:00Z", "stdout", "F", "gz")]);
        current
    }

    #[test]
    fn reads_rotated_files_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let current = rotated_set(dir.path());
        assert_eq!(read(&current, &LogOptions::default()), "a1\na2\nb1\nb2\nc1\n");
    }

    #[test]
    fn tail_spans_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let current = rotated_set(dir.path());
        assert_eq!(read(&current, &LogOptions { tail_lines: Some(3), ..Default::default() }), "b1\nb2\nc1\n");
        assert_eq!(read(&current, &LogOptions { tail_lines: Some(0), ..Default::default() }), "");
        assert_eq!(read(&current, &LogOptions { tail_lines: Some(100), ..Default::default() }), "a1\na2\nb1\nb2\nc1\n");
    }

    #[test]
    fn since_skips_older_lines() {
        let dir = tempfile::tempdir().unwrap();
        let current = rotated_set(dir.path());
        let since = Some(time("2024-01-01T00:00:04Z"));
        assert_eq!(read(&current, &LogOptions { since, ..Default::default() }), "b2\nc1\n");
        // Tail first, then since, as the kubelet.
        assert_eq!(read(&current, &LogOptions { since, tail_lines: Some(4), ..Default::default() }), "b2\nc1\n");
    }

    #[test]
    fn limit_bytes_cuts_mid_line_and_counts_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let current = rotated_set(dir.path());
        assert_eq!(read(&current, &LogOptions { limit_bytes: Some(7), ..Default::default() }), "a1\na2\nb");
        let stamped = read(&current, &LogOptions { limit_bytes: Some(24), timestamps: true, ..Default::default() });
        assert_eq!(stamped, "2024-01-01T00:00:01Z a1\n");
    }

    #[test]
    fn missing_file_is_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(&dir.path().join("0.log"), &LogOptions::default()), "");
    }

    #[test]
    fn options_from_the_query() {
        let now = time("2024-01-01T01:00:00Z");
        let pairs = |q: &str| query_pairs(Some(q));
        let options =
            LogOptions::from_query(&pairs("follow=true&tailLines=5&timestamps=1&limitBytes=10&sinceSeconds=60"), now)
                .unwrap();
        assert_eq!(
            options,
            LogOptions {
                follow: true,
                previous: false,
                timestamps: true,
                tail_lines: Some(5),
                since: Some(time("2024-01-01T00:59:00Z")),
                limit_bytes: Some(10),
            }
        );
        let options = LogOptions::from_query(&pairs("sinceTime=2024-01-01T00%3A00%3A00Z&tailLines=-1"), now).unwrap();
        assert_eq!((options.since, options.tail_lines), (Some(time("2024-01-01T00:00:00Z")), None));
        assert!(LogOptions::from_query(&pairs("sinceSeconds=1&sinceTime=2024-01-01T00%3A00%3A00Z"), now).is_err());
        assert!(LogOptions::from_query(&pairs("limitBytes=0"), now).is_err());
        assert!(LogOptions::from_query(&pairs("tailLines=x"), now).is_err());
        assert!(LogOptions::from_query(&pairs("follow=maybe"), now).is_err());
        assert!(LogOptions::from_query(&pairs("sinceTime=yesterday"), now).is_err());
    }

    #[test]
    fn follow_sees_appended_lines_and_rotation_then_ends_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("0.log");
        write(&current, &[record("2024-01-01T00:00:01Z", "stdout", "F", "first")]);
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (sender, mut receiver) = mpsc::channel(1024);
        let options = LogOptions { follow: true, ..Default::default() };
        let reader = {
            let (current, running) = (current.clone(), running.clone());
            std::thread::spawn(move || {
                stream_log(&current, &options, sender, || running.load(std::sync::atomic::Ordering::SeqCst))
            })
        };
        let mut seen = String::new();
        let mut wait_for = |needle: &str, seen: &mut String| {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !seen.contains(needle) {
                assert!(std::time::Instant::now() < deadline, "never saw {needle:?} in {seen:?}");
                match receiver.try_recv() {
                    Ok(chunk) => seen.push_str(std::str::from_utf8(&chunk).unwrap()),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        };
        wait_for("first\n", &mut seen);
        let mut file = std::fs::OpenOptions::new().append(true).open(&current).unwrap();
        file.write_all(record("2024-01-01T00:00:02Z", "stdout", "P", "sec").as_bytes()).unwrap();
        file.write_all(record("2024-01-01T00:00:03Z", "stdout", "F", "ond").as_bytes()).unwrap();
        wait_for("second\n", &mut seen);
        // Rotation: the file is renamed and a new one takes its name.
        file.write_all(record("2024-01-01T00:00:04Z", "stdout", "F", "before rotation").as_bytes()).unwrap();
        std::fs::rename(&current, dir.path().join("0.log.1")).unwrap();
        write(&current, &[record("2024-01-01T00:00:05Z", "stdout", "F", "after rotation")]);
        wait_for("after rotation\n", &mut seen);
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        reader.join().unwrap().unwrap();
        wait_for("after rotation\n", &mut seen);
        assert_eq!(seen, "first\nsecond\nbefore rotation\nafter rotation\n");
    }

    #[test]
    fn follow_ends_when_the_client_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("0.log");
        write(&current, &[record("2024-01-01T00:00:01Z", "stdout", "F", "x")]);
        let (sender, receiver) = mpsc::channel(1024);
        drop(receiver);
        let options = LogOptions { follow: true, ..Default::default() };
        // Would follow forever if a closed client were not noticed.
        stream_log(&current, &options, sender, || true).unwrap();
    }
}
